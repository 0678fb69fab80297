"""Questions the course's materials cannot answer whatever the retrieval: topics no course of this kind covers
(off-topic) and how the course runs where its materials are silent (course misses)."""

from __future__ import annotations

from .near_misses import names

# Topics no course of this kind covers; answered with the refusal. Written for this project, not taken from
# any evaluation set (the dataset stage checks that with `items_digest`).
OFFTOPIC = (
    "¿Cuál es la receta tradicional de la paella valenciana?", "¿Quién ganó el mundial de fútbol de 1986?",
    "¿Cómo cambio el aceite de mi moto?", "¿Cuál es la capital de Mongolia?",
    "¿Qué horario tiene la piscina municipal?", "¿Cómo se cuida un bonsái en invierno?",
    "¿Cuántas calorías tiene una arepa con queso?", "¿Cómo configuro el router de mi casa?",
    "¿Qué vacunas necesito para viajar a Tailandia?", "¿Cuál es la mejor época para sembrar tomates?",
    "¿Cómo se juega al mus?", "¿Quién escribió Cien años de soledad?",
    "¿Cómo saco el pasaporte por primera vez?", "¿Qué tarifa tiene el parqueadero de la universidad?",
    "¿Cuál es la fórmula química del ozono?", "¿Cómo se afina una guitarra?",
    "¿Cuándo abre la cafetería los domingos?", "¿Cuál es el río más largo de África?",
    "¿Cómo preparo un examen de conducir?", "¿Qué raza de perro es mejor para un apartamento?",
    "¿Cómo se declara la renta siendo estudiante?", "¿Qué películas se estrenan este fin de semana?",
    "¿Cómo reparo una gotera en el techo?", "¿En qué año llegó el hombre a la Luna?",
    "¿Cómo se hace un nudo de corbata Windsor?", "¿Qué significa soñar con serpientes?",
    "¿Cuánto cuesta un vuelo a Lima?", "¿Cómo se poda un rosal?",
    "¿Qué equipo lidera la liga de baloncesto?", "¿Cómo se tiñe el pelo en casa?",
    "¿Cuál es el horario del gimnasio del campus?", "¿Qué idioma se habla en Surinam?",
)


# -- course misses: how the course runs, where its materials are silent ----------------------------------------
# What students ask about the course itself, each topic with the (folded) stems that show its materials talk
# about it. The dataset stage asks only about topics the indexed course never names: retrieval then returns the
# course's own syllabus and exam chunks, which look as if they should answer — a model that answers from them
# invents a rule (office hours, a make-up exam). Written for this project.
COURSE_TOPICS = (
    (("horario de atencion", "horas de atencion", "horario de oficina", "office hours", "asesoria"),
     ("¿En qué horario atiende el profesor dudas fuera de clase?", "¿El profesor tiene horas de oficina?",
      "¿Cuándo puedo ir a resolver dudas con el profesor?", "¿A qué hora atiende el profesor en su oficina?")),
    (("supletori", "examen de recuperacion", "parcial de recuperacion", "recuperatori", "examen diferido", "reprogram",
      "nueva fecha"),
     ("¿Qué pasa si no puedo presentar un parcial por enfermedad?", "¿Se puede reprogramar un parcial?",
      "¿Hay examen de recuperación si pierdo el parcial?", "¿Puedo presentar el parcial otro día si tengo un viaje?")),
    (("entrega tardia", "entregas tardias", "entregar tarde", "entrega tarde", "fuera de plazo", "extemporane",
      "despues de la fecha limite", "penalizacion por"),
     ("¿Se aceptan entregas después de la fecha límite?", "¿Cuánto se descuenta por entregar tarde un trabajo?",
      "¿Qué pasa si subo el proyecto un día tarde?")),
    (("asistencia", "inasistencia", "fallas", "faltas", "asistir"),
     ("¿La asistencia a clase es obligatoria?", "¿Con cuántas faltas se pierde el curso?",
      "¿Toman lista en las clases?")),
    (("grabacion", "grabad"),
     ("¿Las clases quedan grabadas?", "¿Dónde encuentro las grabaciones de las clases?",
      "¿Suben el video de la clase para quien no pudo ir?")),
    (("hoja de formulas", "libro abierto", "material permitido", "apuntes"),
     ("¿Se pueden usar apuntes durante el parcial?", "¿El examen es a libro abierto?",
      "¿Se puede llevar una hoja de fórmulas al examen?")),
    (("reclamo", "reclamacion", "apelacion", "revision de nota", "revision de calificacion", "recalific"),
     ("¿Cómo se pide la revisión de una nota?", "¿Cuánto tiempo hay para reclamar una calificación?",
      "¿A quién le escribo si creo que me calificaron mal el parcial?")),
    (("puntos extra", "puntos adicionales", "credito extra", "bonificacion", "bono"),
     ("¿Hay forma de ganar puntos extra en el curso?", "¿Se puede subir la nota con un trabajo adicional?",
      "¿Hay algún bono para el examen final?")),
    (("salon", "aula", "edificio"),
     ("¿En qué salón es la clase?", "¿En qué edificio se dicta el curso?", "¿Dónde queda el aula del curso?")),
    (("nota minima", "nota aprobatoria", "aprobar", "aprueba", "reprobar", "reprueba", "perder la materia"),
     ("¿Cuál es la nota mínima para aprobar el curso?", "¿Con cuánto se pasa la materia?",
      "¿Qué nota necesito en el final para no perder el curso?")),
    (("prerrequisit", "requisito previo", "correquisit"),
     ("¿Qué prerrequisitos tiene el curso?", "¿Necesito haber visto otra materia antes de este curso?")),
    (("plagio", "copia", "integridad academica", "honestidad academica"),
     ("¿Qué pasa si me descubren copiando en un parcial?", "¿Qué sanción tiene el plagio en los proyectos?",
      "¿Qué pasa si dos grupos entregan el mismo código?")),
    (("retiro", "retirar", "cancelar la materia", "cancelacion"),
     ("¿Hasta qué fecha se puede retirar la materia?", "¿Cómo cancelo el curso si voy perdiendo?")),
)


def course_questions(folded_corpus: str) -> list[tuple[str, tuple[str, ...]]]:
    """(question, the topic's stems) for every topic the course's materials never name."""
    return [(question, stems) for stems, questions in COURSE_TOPICS
            if not any(names(folded_corpus, stem) for stem in stems) for question in questions]
