"""Confident learning (training.confident) against the paper's definitions, on cases small enough to
work out by hand, and on a synthetic set with planted errors: the errors are found, a clean class is
not flagged."""
from __future__ import annotations

import numpy as np
import pytest

from training import confident

# Three classes, ten faces. Labels and probabilities chosen so every quantity can be checked by hand.
P = np.array([
    [0.80, 0.10, 0.10],  # 0: labeled 0
    [0.70, 0.20, 0.10],  # 1: labeled 0
    [0.60, 0.30, 0.10],  # 2: labeled 0
    [0.10, 0.10, 0.80],  # 3: labeled 0, the model is sure it is 2
    [0.10, 0.80, 0.10],  # 4: labeled 1
    [0.20, 0.70, 0.10],  # 5: labeled 1
    [0.30, 0.60, 0.10],  # 6: labeled 1
    [0.10, 0.20, 0.70],  # 7: labeled 2
    [0.10, 0.10, 0.80],  # 8: labeled 2
    [0.40, 0.30, 0.30],  # 9: labeled 2, below every threshold but class 0's? (0.40 < t_0 = 0.55)
])
Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_thresholds_are_each_class_mean_self_confidence():
    t = confident.thresholds(P, Y)
    # t_0 = (0.8 + 0.7 + 0.6 + 0.1) / 4, t_1 = (0.8 + 0.7 + 0.6) / 3, t_2 = (0.7 + 0.8 + 0.3) / 3
    np.testing.assert_allclose(t, [0.55, 0.7, 0.6])


def test_confident_joint_counts_each_face_under_its_confident_class():
    # Face by face, the classes at their threshold (p >= t) and the most probable of them:
    # 0 {0} -> 0; 1 {0} -> 0; 2 {0} -> 0; 3 {2} -> 2; 4 {1} -> 1; 5 {1} -> 1; 6 none (0.6 < 0.7);
    # 7 {2} -> 2; 8 {2} -> 2; 9 none (0.4 < 0.55, 0.3 < 0.7, 0.3 < 0.6).
    np.testing.assert_array_equal(confident.confident_classes(P, confident.thresholds(P, Y)),
                                  [0, 0, 0, 2, 1, 1, -1, 2, 2, -1])
    np.testing.assert_array_equal(confident.confident_joint(P, Y), [[3, 0, 1], [0, 2, 0], [0, 0, 2]])


def test_calibration_rescales_each_row_to_its_class_count():
    # Row 0 holds 4 faces: unchanged. Row 1: 2 counted of 3 faces -> 3. Row 2: 2 of 3 -> 3.
    joint = confident.confident_joint(P, Y)
    np.testing.assert_array_equal(confident.calibrate(joint, np.bincount(Y)), [[3, 0, 1], [0, 3, 0], [0, 0, 3]])
    # Fractions are rounded keeping the row total: [2, 1] over 4 faces -> [2.67, 1.33] -> [3, 1].
    np.testing.assert_array_equal(confident.calibrate(np.array([[2, 1], [0, 1]]), np.array([4, 2])), [[3, 1], [0, 2]])
    # A class with no confident face keeps its faces on the diagonal (no noise estimated for it);
    # every diagonal counts at least 1: [0, 3] over 8 faces is [1, 3] -> [2, 6].
    np.testing.assert_array_equal(confident.calibrate(np.array([[0, 0], [1, 1]]), np.array([5, 2])), [[5, 0], [1, 1]])
    np.testing.assert_array_equal(confident.calibrate(np.array([[0, 3], [0, 4]]), np.array([8, 4])), [[2, 6], [0, 4]])


@pytest.mark.parametrize("method", confident.METHODS)
def test_the_one_face_the_model_is_sure_about_is_the_issue(method):
    found = confident.find_issues(P, Y, method)
    assert np.flatnonzero(found.issues).tolist() == [3]
    assert found.estimated_errors() == 1


def test_prune_by_noise_rate_takes_the_largest_margins_of_each_off_diagonal_cell():
    labels = np.array([0, 0, 0, 0, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.45, 0.55], [0.1, 0.9]])
    prune = np.array([[0, 2], [0, 0]])  # two faces labeled 0 are truly 1: the two with the largest p1 - p0
    assert np.flatnonzero(confident.prune_by_noise_rate(probs, labels, prune)).tolist() == [1, 2]
    # Prune by class takes the two lowest self-confidences p0 instead: faces 2 (0.2) and 1 (0.4).
    assert np.flatnonzero(confident.prune_by_class(probs, labels, prune)).tolist() == [1, 2]


def test_a_face_whose_label_is_the_models_top_class_is_never_flagged():
    # Labeled 0: A and B confidently 1, D and E confidently 0, C1-C3 below every threshold (0.55 < t_0).
    # The calibrated joint puts 3 of the 7 in cell (0, 1): the margin picks A, B and then C1, whose
    # label the model agrees with (0.55 > 0.45): C1 is not flagged.
    probs = np.array([[0.2, 0.8], [0.25, 0.75], [0.55, 0.45], [0.55, 0.45], [0.55, 0.45], [0.95, 0.05], [0.9, 0.1],
                      [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    t = confident.thresholds(probs, labels)
    np.testing.assert_array_equal(confident.confident_joint(probs, labels, t), [[2, 2], [0, 1]])
    calibrated = confident.calibrate(confident.confident_joint(probs, labels, t), np.bincount(labels))
    np.testing.assert_array_equal(calibrated, [[4, 3], [0, 3]])
    assert np.flatnonzero(confident.prune_by_noise_rate(probs, labels, calibrated)).tolist() == [0, 1, 2]
    assert np.flatnonzero(confident.find_issues(probs, labels).issues).tolist() == [0, 1]


def test_margin_and_self_confidence():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    labels = np.array([0, 2])
    np.testing.assert_allclose(confident.self_confidence(probs, labels), [0.6, 0.3])
    np.testing.assert_allclose(confident.normalized_margin(probs, labels), [(0.6 - 0.3 + 1) / 2, (0.3 - 0.5 + 1) / 2])


def _planted(seed: int = 0, n_per_class: int = 200, flipped: int = 30, top=(0.6, 0.95)):
    """Four classes; a model right about every face's true class (its probability drawn from `top`,
    the rest spread at random over the other classes). Class 1 has `flipped` faces labeled 1 whose
    truth is 2 or 3; the other classes are clean."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(4), n_per_class)
    rows = np.arange(len(truth))
    top = rng.uniform(*top, size=len(truth))
    probs = rng.dirichlet(np.ones(4), size=len(truth))
    probs[rows, truth] = 0
    probs *= (1 - top)[:, None] / probs.sum(axis=1, keepdims=True)
    probs[rows, truth] = top
    labels = truth.copy()
    victims = rng.choice(np.flatnonzero(np.isin(truth, [2, 3])), size=flipped, replace=False)
    labels[victims] = 1
    return probs, labels, victims


@pytest.mark.parametrize("method", confident.METHODS)
def test_planted_errors_are_found_exactly_when_the_model_is_equally_sure_of_every_face(method):
    # Every face's true class at 0.9: each victim reaches its true class's threshold (0.9), every
    # face labeled 1 reaches t_1 (< 0.9), no other probability reaches any threshold. The joint is
    # then exact: 30 faces in row 1 off the diagonal, nothing elsewhere.
    probs, labels, victims = _planted(top=(0.9, 0.9))
    found = confident.find_issues(probs, labels, method)
    assert set(np.flatnonzero(found.issues).tolist()) == set(victims.tolist())
    truth2 = int(np.sum(np.isin(victims, np.arange(400, 600))))
    np.testing.assert_array_equal(found.joint, [[200, 0, 0, 0], [0, 200, truth2, 30 - truth2],
                                                [0, 0, 200 - truth2, 0], [0, 0, 0, 170 + truth2]])
    assert found.estimated_errors() == 30


@pytest.mark.parametrize("method", confident.METHODS)
def test_planted_errors_are_found_and_clean_classes_are_not_flagged(method):
    # The model's confidence varies (0.6 to 0.95): a victim below its true class's mean confidence is
    # not counted in the joint, so the estimate is short of 30 (confident learning errs on the side
    # of flagging less), but whatever is flagged is a planted error, and a clean class gets nothing.
    probs, labels, victims = _planted()
    found = confident.find_issues(probs, labels, method)
    flagged = np.flatnonzero(found.issues)
    assert set(flagged.tolist()) <= set(victims.tolist())
    assert len(flagged) >= 0.4 * len(victims)
    assert set(labels[flagged].tolist()) == {1}
    off = found.calibrated - np.diag(np.diag(found.calibrated))
    assert off[[0, 2, 3]].sum() == 0 and off[1, 0] == 0  # no victim came from class 0
    assert 0.5 * len(victims) <= off[1].sum() <= len(victims)


def test_the_ranking_puts_the_planted_errors_first():
    probs, labels, victims = _planted(seed=1, flipped=40)
    found = confident.find_issues(probs, labels)
    for ranking in confident.RANKINGS:
        top = found.ranking(ranking)[: len(victims)]
        assert len(set(top.tolist()) & set(victims.tolist())) >= 0.9 * len(victims)
        scores = found.score(ranking)[found.ranked_issues(ranking)]
        assert np.all(np.diff(scores) >= 0)  # most likely wrong (lowest score) first


def test_a_class_nobody_has_is_never_a_confident_class():
    probs = np.array([[0.5, 0.1, 0.4], [0.2, 0.1, 0.7], [0.6, 0.2, 0.2], [0.1, 0.3, 0.6]])
    labels = np.array([0, 2, 0, 2])  # nobody is labeled 1
    t = confident.thresholds(probs, labels)
    assert np.isinf(t[1])
    assert (confident.confident_classes(probs, t) != 1).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="labels must be class indices"):
        confident.find_issues(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(ValueError, match="unknown method"):
        confident.find_issues(np.full((2, 2), 0.5), np.array([0, 1]), "magic")
