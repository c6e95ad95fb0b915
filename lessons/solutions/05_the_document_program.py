"""Worked solution to lesson 05's exercise (try it yourself first).

05.1 ``state_dict()`` names every parameter by its path (``fc1.weight``, ``out.bias``); keep
those that do not belong to the head and load them with ``strict=False``, which reports the
head's keys as missing instead of refusing them. ``load_state_dict`` copies the values into
new_net's own parameters, so fine-tuning new_net later leaves the pretrained network as it was
(handing over the layer objects themselves would not). This is lesson 5's ``transferred_net``
with the head's name as an argument, and what ``transfer.replace_head`` does for an ``nn.MLP``.
"""


def carry_over(pretrained, new_net, head):
    body = {name: value for name, value in pretrained.state_dict().items()
            if not name.startswith(head + ".")}
    new_net.load_state_dict(body, strict=False)  # the head's keys are missing: it stays fresh
    return new_net
