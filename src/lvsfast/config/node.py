"""One statement of keepalived.conf, as the reader makes it and the builder reads it."""
from __future__ import annotations

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from lvsfast.frozen import NamedTuple


class Node(NamedTuple):
    """One statement: ``keyword args...`` and, for ``keyword args { ... }``, its children.

    A NamedTuple rather than a frozen dataclass: a large file makes hundreds of thousands of
    these, and a tuple is several times cheaper to create.
    """

    keyword: str
    args: tuple[str, ...]
    file: str
    line: int
    children: tuple["Node", ...] | None = None
    end_line: int = 0  # the line of the closing '}' of a block


    @property
    def is_block(self) -> bool:
        return self.children is not None
