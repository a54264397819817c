from k8s_operator_connector.shared_values import SharedValues


def test_equal_values_become_one_object():
    shared = SharedValues()
    first = shared(("running", int("2")))
    second = shared(("running", int("2")))
    assert second is first
    message = "".join(["2/2 workers", " running"])
    assert shared(message) is shared("2/2 workers running")


def test_unhashable_values_are_returned_unchanged():
    shared = SharedValues()
    value = (("workers", [1, 2]),)
    assert shared(value) is value
    assert len(shared) == 0


def test_past_the_bound_it_starts_over_and_stays_correct():
    shared = SharedValues(max_kept=2)
    for index in range(5):
        assert shared(f"message {index}") == f"message {index}"
    assert len(shared) <= 2


def test_it_keeps_up_to_its_bound_and_starts_over_at_the_next_new_value():
    shared = SharedValues(max_kept=2)
    first = shared("a" * 3)
    shared("b" * 3)
    assert len(shared) == 2  # at the bound: both kept
    assert shared("".join(["a"] * 3)) is first
    shared("c" * 3)  # a third distinct value: it starts over
    assert len(shared) == 1
