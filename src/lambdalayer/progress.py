"""What the library says while it works: one ``notify(message)`` callable, handed down.

The library never prints; a caller that wants progress passes its own ``notify`` (the
command line passes one that draws on stderr). A message is text a person can read as it
is; the ones that measure progress are also data, so that a front end never recognises
them by their wording:

- :class:`Step`: one of ``total`` steps of a stage is done (``done`` of ``total``);
- :class:`Transfer`: a download's bytes so far (``done``) of ``total`` (``None``: unknown),
  and whether it ``finished``.

Both are ``str`` (their text), so a caller that only logs lines needs nothing else.

>>> step = Step("prepared numpy 2.3.1", stage="prepare", done=3, total=10)
>>> step, step.done, step.total
('prepared numpy 2.3.1', 3, 10)
>>> labelled(print, "[api] ")(step)
[api] prepared numpy 2.3.1
"""

from __future__ import annotations

from collections.abc import Callable

Notify = Callable[[str], None]


def quiet(_message: str) -> None:
    """The default ``notify``: say nothing."""


class Step(str):
    """Step ``done`` of ``total`` of the stage ``stage`` is over; the text says which."""

    stage: str
    done: int
    total: int

    def __new__(cls, text: str, *, stage: str, done: int, total: int) -> Step:
        """The step, read as ``text``."""
        step = super().__new__(cls, text)
        step.stage, step.done, step.total = stage, done, total
        return step

    def relabel(self, prefix: str) -> Step:
        """The same step, its text after ``prefix``."""
        return Step(prefix + self, stage=self.stage, done=self.done, total=self.total)


class Notice(str):
    """A line the user must see even where progress is left out (a wait of unknown length):
    said as a ``notice:`` line, at the level of a warning; ``label`` is the target's prefix
    (:func:`labelled`), said before it."""

    label: str

    def __new__(cls, text: str, *, label: str = "") -> Notice:
        """The notice, read as ``text``."""
        notice = super().__new__(cls, text)
        notice.label = label
        return notice

    def relabel(self, prefix: str) -> Notice:
        """The same notice, after ``prefix``."""
        return Notice(self, label=prefix + self.label)


class Transfer(str):
    """A download of ``name``: ``done`` bytes of ``total`` (``None``: not known yet);
    ``finished`` once it is complete. The text is what a log line would say."""

    name: str
    done: int
    total: int | None
    finished: bool

    def __new__(
        cls, text: str, *, name: str, done: int, total: int | None, finished: bool = False
    ) -> Transfer:
        """The transfer's state, read as ``text``."""
        transfer = super().__new__(cls, text)
        transfer.name, transfer.done, transfer.total = name, done, total
        transfer.finished = finished
        return transfer

    def relabel(self, prefix: str) -> Transfer:
        """The same state, its text after ``prefix``."""
        return Transfer(
            prefix + self, name=self.name, done=self.done, total=self.total, finished=self.finished
        )


def labelled(notify: Notify, prefix: str) -> Notify:
    """``notify`` with every message after ``prefix`` (``[api python3.12-x86_64] ``),
    progress kept as the data it is."""
    if not prefix:
        return notify

    def say(message: str) -> None:
        if isinstance(message, Step | Transfer | Notice):
            notify(message.relabel(prefix))
        else:
            notify(prefix + message)

    return say


class Downloading:
    r"""Says a download of ``name`` to ``notify`` as :class:`Transfer` events: one when it
    starts (the text ``downloading NAME``), one per :meth:`advance`, one when it
    :meth:`finish`\ es."""

    def __init__(self, notify: Notify, name: str, total: int | None) -> None:
        self.notify, self.name, self.total, self.done = notify, name, total, 0
        notify(Transfer(f"downloading {name}", name=name, done=0, total=total))

    def advance(self, count: int) -> None:
        """``count`` more bytes arrived."""
        self.done += count
        text = f"downloading {self.name}: {self.done:,} bytes"
        self.notify(Transfer(text, name=self.name, done=self.done, total=self.total))

    def finish(self) -> None:
        """The download is complete (or given up: ``done`` says how far it went)."""
        text = f"downloaded {self.name}"
        self.notify(Transfer(text, name=self.name, done=self.done, total=self.done, finished=True))
