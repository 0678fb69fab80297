"""Write the generated files of the sample course (a lecture PDF and a notebook) into sample_course/.

    .venv/bin/python scripts/make_sample_course.py

The outputs are committed, so users do not need to run this; it exists so that they can be rebuilt.
The Markdown syllabus and the HTML reading are hand-written files in sample_course/.
"""

from __future__ import annotations

import json
from pathlib import Path

from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent / "sample_course"

# -- the lecture: one slide per page -------------------------------------------------------------------
SLIDES = [
    ("Clase 1: Introducción al aprendizaje automático",
     "Aprendizaje Automático Aplicado. Semana 1. Dra. Lucía Fernández."),
    ("¿Qué es el aprendizaje automático?",
     "El aprendizaje automático es la rama de la inteligencia artificial que construye modelos que aprenden "
     "patrones a partir de datos, en lugar de seguir reglas escritas a mano. Un modelo se entrena con "
     "ejemplos y luego hace predicciones sobre datos que no ha visto."),
    ("Aprendizaje supervisado y no supervisado",
     "En el aprendizaje supervisado cada ejemplo tiene una etiqueta: clasificación si la etiqueta es una "
     "categoría, regresión si es un número. En el no supervisado no hay etiquetas: el objetivo es encontrar "
     "estructura, por ejemplo agrupar clientes con k-means."),
    ("Sobreajuste (overfitting)",
     "Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento: su error de entrenamiento es "
     "muy bajo, pero su error en datos nuevos es alto. Señales: gran diferencia entre la exactitud de "
     "entrenamiento y la de validación. Remedios: más datos, modelos más simples y regularización."),
    ("División de los datos",
     "Separamos los datos en entrenamiento (80 %) y prueba (20 %) con train_test_split y random_state=42 "
     "para que el resultado sea reproducible. El conjunto de prueba se usa una sola vez, al final."),
    ("Validación cruzada",
     "La validación cruzada de k pliegues divide el entrenamiento en k partes; entrena k veces, cada vez "
     "validando en una parte distinta, y promedia el error. En el curso usamos k = 5."),
    ("Descenso del gradiente",
     "El descenso del gradiente ajusta los parámetros en la dirección opuesta al gradiente de la pérdida. "
     "La tasa de aprendizaje controla el tamaño del paso: si es muy grande el entrenamiento diverge, si es "
     "muy pequeña converge lentamente."),
    ("Para la próxima clase",
     "Leer la lectura sobre regularización (semana 2) y completar el taller 1 en el notebook del curso."),
]


def latin1(text: str) -> str:
    # the PDF core fonts are Latin-1; Spanish fits, typographic quotes do not
    return text.replace("\u201c", '"').replace("\u201d", '"').encode("latin-1", "replace").decode("latin-1")


def write_lecture(path: Path) -> None:
    pdf = FPDF(orientation="L", format="A5")
    pdf.set_auto_page_break(False)
    pdf.set_title("Clase 1: Introducción al aprendizaje automático")
    for title, body in SLIDES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.multi_cell(0, 10, latin1(title))
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 12)
        pdf.multi_cell(0, 7, latin1(body))
    pdf.output(str(path))


# -- the notebook: markdown and code cells ----------------------------------------------------------------
CELLS = [
    ("markdown", "# Taller 1: primer modelo de clasificación\n\nEntrenamos un k-vecinos más cercanos (KNN) "
                 "sobre el conjunto iris."),
    ("code", "from sklearn.datasets import load_iris\nfrom sklearn.model_selection import train_test_split\n"
             "X, y = load_iris(return_X_y=True)\n"
             "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)"),
    ("markdown", "## Entrenamiento del KNN\n\nUsamos k = 5 vecinos y la distancia euclidiana."),
    ("code", "from sklearn.neighbors import KNeighborsClassifier\n"
             "knn = KNeighborsClassifier(n_neighbors=5)\nknn.fit(X_train, y_train)\n"
             "print('exactitud:', knn.score(X_test, y_test))"),
    ("markdown", "## Escalado de variables\n\nKNN usa distancias, así que escalamos las variables con "
                 "StandardScaler antes de entrenar; si no, la variable de mayor rango domina la distancia."),
    ("code", "from sklearn.preprocessing import StandardScaler\nscaler = StandardScaler().fit(X_train)\n"
             "X_train_s, X_test_s = scaler.transform(X_train), scaler.transform(X_test)"),
]


def write_notebook(path: Path) -> None:
    cells = []
    for kind, source in CELLS:
        cell = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    if "exactitud" in CELLS[3][1]:
        cells[3]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["exactitud: 1.0\n"]}]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    week1 = ROOT / "Semana 01_Introducción"
    week1.mkdir(parents=True, exist_ok=True)
    write_lecture(week1 / "Clase 1_Introducción.pdf")
    write_notebook(week1 / "Taller 1_KNN.ipynb")
    print(f"wrote {week1}")
