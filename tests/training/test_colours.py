"""Class colours: the expression classes read as their feeling, any other name gets a distinct spare colour."""
from training.colours import NAMED, bgr, class_colours


def test_named_classes_keep_their_colour_and_others_get_distinct_ones():
    fer = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    c = class_colours(fer)
    assert list(c) == fer and c["angry"] == NAMED["angry"] and len(set(c.values())) == 7
    c = class_colours(["happy", "bored", "sleepy"])
    assert c["happy"] == NAMED["happy"] and len(set(c.values())) == 3
    assert bgr("#d62728") == (0x28, 0x27, 0xD6)
