"""Splitting a markdown review across pull-request comments without cutting anything.

GitHub refuses a comment over 65,536 characters. Like Atlantis, the review is split at line
ends into several comments, each closing the collapsible sections and tables it leaves open
and reopening them in the next, so every part renders. Breaking and security findings (and
the validation warnings before them) are always posted, whatever their size; when the whole
review would need more than `max_parts` comments, the remaining lower-risk parts are replaced
by a pointer to the full diff (the workflow's artifact).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.review.markdown import ESSENTIAL_END, MARKER

#: GitHub's limit is 65,536 characters; keep room for the part header and closing tags.
LIMIT = 65_000
MAX_PARTS = 10


@dataclass(frozen=True, slots=True)
class Part:
    body: str
    essential: bool  # holds breaking, security or validation lines


def _part_marker(index: int) -> str:
    return f"<!-- modelyard-diff part {index} -->"


class _Packer:
    """Packs lines into parts, tracking open <details> blocks and the current table header."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[tuple[list[str], bool]] = []
        self.lines: list[str] = []
        self.size = 0
        self.details: list[list[str]] = []  # opening lines of each open <details>
        self.table: list[str] = []  # header and separator of the table being written
        self.fence = ""  # the opening line of the code block being written
        self.essential = True  # the part being filled
        self.past_essential = False

    def _closing(self) -> list[str]:
        fence = [self.fence[: len(self.fence) - len(self.fence.lstrip())] + "```"] * bool(
            self.fence
        )
        return fence + [""] * bool(self.table) + ["</details>"] * len(self.details)

    def _reopening(self) -> list[str]:
        lines = [line for block in self.details for line in block]
        if lines:
            lines = [
                *lines[:-1],
                lines[-1].replace("</b></summary>", " (continued)</b></summary>"),
                "",
            ]
        return lines + self.table + [self.fence] * bool(self.fence)

    def _flush(self) -> None:
        self.parts.append(([*self.lines, *self._closing()], self.essential))
        self.essential = not self.past_essential
        self.lines = self._reopening()
        self.size = sum(len(line) + 1 for line in self.lines)

    def add(self, line: str) -> None:
        closing = sum(len(x) + 1 for x in self._closing()) + len("</details>") + 1
        if self.size + len(line) + 1 + closing > self.limit and self.size > 0:
            held = []
            if self.lines and self.lines[-1].startswith("<details") and self.details:
                # never leave a section's opening line alone at the end of a part
                held.append(self.lines.pop())
                self.details.pop()
            self._flush()
            for earlier in held:
                self._append(earlier)
        self._append(line)

    def _append(self, line: str) -> None:
        if line == ESSENTIAL_END:
            self.past_essential = True
        self.lines.append(line)
        self.size += len(line) + 1
        self._track(line)

    def _track(self, line: str) -> None:
        if line.lstrip().startswith("```"):
            self.fence = "" if self.fence else line
            return
        if self.fence:
            return
        if line.startswith("<details"):
            self.details.append([line])
        elif line.startswith("<summary>") and self.details and len(self.details[-1]) == 1:
            self.details[-1].append(line)
        elif line == "</details>" and self.details:
            self.details.pop()
        if line.startswith("|"):
            if len(self.table) < 2 and (
                not self.table or line.startswith("|-") or line.startswith("|:")
            ):
                self.table.append(line)
            elif len(self.table) == 1:
                self.table = [line]
        else:
            self.table = []

    def finish(self) -> list[tuple[list[str], bool]]:
        if self.lines:
            self.parts.append((self.lines, self.essential))
        return self.parts


def _hard_wrap(text: str, limit: int) -> list[str]:
    """Lines longer than a comment can hold (never in practice) broken into pieces."""
    out = []
    for line in text.splitlines():
        while len(line) > limit:
            out.append(line[:limit])
            line = line[limit:]
        out.append(line)
    return out


def split_comment(
    markdown: str, *, limit: int = LIMIT, max_parts: int = MAX_PARTS, rest_url: str | None = None
) -> list[Part]:
    """The comments to post for `markdown`, in order; each under `limit` characters and
    starting with the marker and its part number."""
    header = 200  # marker, part marker and the "part i of n" line
    body = markdown.replace(MARKER + "\n", "", 1) if markdown.startswith(MARKER) else markdown
    packer = _Packer(limit - header)
    for line in _hard_wrap(body, limit // 2):
        packer.add(line)
    packed = packer.finish()
    kept = [p for i, p in enumerate(packed) if p[1] or i < max_parts]
    left_out = len(packed) - len(kept)
    if left_out:
        where = f"[the full diff]({rest_url})" if rest_url else "the full diff (workflow artifact)"
        last, essential = kept[-1] if kept else ([], False)
        note = (
            f"… {left_out} more comment(s) of routing, pricing and other changes left out: "
            f"see {where}, or run `modelyard diff` locally."
        )
        if kept and sum(len(x) + 1 for x in last) + len(note) < limit - header:
            kept[-1] = ([*last, "", note], essential)
        else:
            kept.append(([note], False))
    total = len(kept)
    parts = []
    for index, (lines, essential) in enumerate(kept, 1):
        head = [MARKER, _part_marker(index)]
        if total > 1:
            head.append(f"*Part {index} of {total}*\n")
        parts.append(Part("\n".join([*head, *lines]).rstrip() + "\n", essential))
    return parts
