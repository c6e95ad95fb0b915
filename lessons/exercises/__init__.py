"""Exercises that grade themselves (in the spirit of minitorch's tasks and DeZero's steps).

A lesson ends with an exercise: a function for the learner to write (its body is ``...`` or
raises ``NotImplementedError`` until they do), then a cell that calls its check:

    from exercises import lesson01
    lesson01.check_topological_order(my_topological_order)

Each check runs the learner's function on cases it builds itself, compares with the right
answer, and prints one verdict: ``[exercise 01.1] correct: ...``, ``[exercise 01.1] not yet:
...`` (with what differed) or ``[exercise 01.1] not attempted yet``. It never raises, so a
lesson still runs top to bottom while the exercise is open. It returns a ``Grade``.

One module per lesson (``lessonNN.py``) holds that lesson's checks; worked solutions are in
``lessons/solutions/NN_name.py``. ``tests/test_exercises.py`` runs every check against its
solution (it must say correct) and against wrong answers (it must say not yet): a check that
accepts a wrong answer is a defect.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Grade:
    exercise: str  # "01.1": lesson 01, exercise 1
    status: str  # "correct", "wrong" or "not attempted"
    message: str

    @property
    def passed(self):
        return self.status == "correct"

    def __str__(self):
        label = {"correct": "correct", "wrong": "not yet", "not attempted": "not attempted yet"}
        text = f"[exercise {self.exercise}] {label[self.status]}"
        return f"{text}: {self.message}" if self.message else text


def grade(exercise, check, answer):
    """Run ``check(answer)`` and print the Grade.

    ``check`` returns None when every case agrees, else a sentence saying what differed. An
    answer that raises NotImplementedError or returns ``...``/None is "not attempted"; any
    other exception is a wrong answer, reported by its type and message.
    """
    try:
        problem = check(answer)
    except _NotAttempted:
        result = Grade(exercise, "not attempted", "")
    except NotImplementedError:
        result = Grade(exercise, "not attempted", "")
    except Exception as error:  # the learner's code failed: that is feedback, not a crash
        result = Grade(exercise, "wrong", f"your function raised {type(error).__name__}: {error}")
    else:
        result = Grade(exercise, "correct" if problem is None else "wrong", problem or "")
    print(result)
    return result


class _NotAttempted(Exception):
    """Raised by ``attempted`` for an answer that is still the placeholder."""


def attempted(value):
    """Return ``value``, or stop the check as "not attempted" when it is None or ``...``."""
    if value is None or value is Ellipsis:
        raise _NotAttempted
    return value
