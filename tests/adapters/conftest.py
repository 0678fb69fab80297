"""Chunks as the retriever returns them, for the dataset builder's unit tests; sleeping OpenMP threads; the
`coursebot adapter` app on given settings."""

import typer

from adapters.base_model import prefer_passive_threads
from adapters.cli import register
from knowledge.retrieval import Hit

prefer_passive_threads()  # at collection, before torch or llama.cpp is loaded (see its docstring)

OVERFIT = ("Sobreajuste (overfitting)\nUn modelo sobreajustado memoriza el ruido del conjunto de entrenamiento: su "
           "error de\nentrenamiento es muy bajo, pero su error en datos nuevos es alto. Señales: gran diferencia "
           "entre la\nexactitud de entrenamiento y la de validación.")
SCHEDULE = ("## Información general\n\n- **Profesora:** Dra. Lucía Fernández\n- **Horario de atención:** miércoles "
            "de 15:00 a 17:00 en la oficina 3.12.\n- **Duración:** 8 semanas.")
KNN = ("## Entrenamiento del KNN\n\nUsamos k = 5 vecinos y la distancia euclidiana.\n\n"
       "from sklearn.neighbors import KNeighborsClassifier\nknn = KNeighborsClassifier(n_neighbors=5)\n"
       "knn.fit(X_train, y_train)")
GRADIENT = ("Descenso del gradiente\nEl descenso del gradiente ajusta los parámetros en la dirección opuesta al "
            "gradiente de la pérdida. La tasa de aprendizaje es el tamaño del paso que se da en cada actualización.")


def chunk(node_id: str, text: str, section: str, file: str = "Semana 01/Clase 1.pdf", page: int = 4) -> Hit:
    kind = "page" if file.endswith(".pdf") else ("cell" if file.endswith(".ipynb") else "")
    return Hit(node_id, file, file.rsplit("/", 1)[-1].rsplit(".", 1)[0], section, kind, page if kind else 0,
               page if kind else 0, 1, 1.0, text, 0.9)


def course() -> list[Hit]:
    return [chunk("c-overfit", OVERFIT, "Sobreajuste (overfitting)"),
            chunk("c-schedule", SCHEDULE, "Información general", "programa.md"),
            chunk("c-knn", KNN, "Entrenamiento del KNN", "Semana 01/Taller 1.ipynb", 2),
            chunk("c-gradient", GRADIENT, "Descenso del gradiente", page=7)]


def adapter_cli(settings) -> typer.Typer:
    """`coursebot adapter …` on these settings."""
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context):
        ctx.obj = settings

    register(app)
    return app
