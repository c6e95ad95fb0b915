"""Every lesson exercise's check says "correct" for the worked solution and "not yet" for wrong
answers (a check that accepts a wrong answer is a defect), and "not attempted" for the blank.

Each ``lessons/exercises/lessonNN.py`` lists its checks in ``SELF_TEST``: tuples
``(check, solution, wrong_answers)`` where ``check(answer)`` prints and returns a Grade,
``solution`` names the worked solution as "NN_name.py:function" in ``lessons/solutions/``, and
``wrong_answers`` are plausible mistakes the check must reject.
"""

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
sys.path.insert(0, str(LESSONS))  # `import exercises` as a lesson does


def _solution(spec):
    filename, function = spec.split(":")
    path = LESSONS / "solutions" / filename
    module_spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, function)


def _cases():
    cases = []
    for path in sorted((LESSONS / "exercises").glob("lesson[0-9][0-9].py")):
        module = importlib.import_module(f"exercises.{path.stem}")
        for check, solution, wrong_answers in module.SELF_TEST:
            cases.append(pytest.param(check, solution, wrong_answers, id=f"{path.stem}-{check.__name__}"))
    return cases


CASES = _cases()


def test_every_lesson_has_an_exercise():
    numbered = sorted(p.name[:2] for p in LESSONS.glob("[0-9][0-9]_*.py"))
    with_exercises = sorted(p.stem[-2:] for p in (LESSONS / "exercises").glob("lesson[0-9][0-9].py"))
    missing = sorted(set(numbered) - set(with_exercises))
    assert not missing, f"lessons without exercises: {missing}"


@pytest.mark.parametrize("check, solution, wrong_answers", CASES)
def test_check_accepts_the_solution_and_rejects_wrong_answers(check, solution, wrong_answers):
    assert check(_solution(solution)).status == "correct"
    assert wrong_answers, "a check needs at least one wrong answer to prove it can fail"
    for wrong in wrong_answers:
        assert check(wrong).status == "wrong", f"{check.__name__} accepted {wrong}"


@pytest.mark.parametrize("check, solution, wrong_answers", CASES)
def test_a_blank_answer_is_not_attempted(check, solution, wrong_answers):
    def blank(*args, **kwargs):
        raise NotImplementedError

    assert check(blank).status == "not attempted"
