#!/usr/bin/python3
"""Score the answers of `fedvlm eval --predictions FILE` question by question.

    answers.py FILE [--task TASK] [--by prompt|reference|question] [--format markdown|tsv]

One row per group of answers: how many, their mean score (exact match for cls and vqa, IoU for
ground; caption answers have no per-answer score and are counted only), and the commonest
predictions. The groups are

  prompt     each distinct question as asked ("is this a coat?");
  question   the question with any item name replaced by {item} ("is this a {item}?"); the item
             names are the reference answers of the file's classification (cls) rows;
  reference  each distinct reference answer ("yes", "no", ...).

Averaging every group of a task, weighted by its count, gives the task's number in the metrics
table. A model that answers every yes/no question "no" shows as a 0.5 mean and one prediction.

Exit status: 0, 1 for an unreadable file (its name, line and what is wrong on stderr).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

FIELDS = ("row", "task", "prompt", "prediction", "reference", "score")


class AnswersError(Exception):
    pass


def read_answers(path: Path) -> list[dict]:
    rows = []
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise AnswersError(f"{path}:{number}: not JSON ({error.msg})") from None
            missing = [field for field in FIELDS if field not in row]
            if missing:
                hint = " (written by a fedvlm older than the prompt field: evaluate again)" if missing == ["prompt"] else ""
                raise AnswersError(f"{path}:{number}: no {', '.join(missing)}{hint}")
            rows.append(row)
    return rows


def item_names(rows: list[dict]) -> list[str]:
    """The classification task's answers: the names a question may mention. Longest first, so
    that "ankle boot" is taken out before "boot"."""
    names = {row["reference"] for row in rows if row["task"] == "cls" and row["reference"]}
    return sorted(names, key=lambda name: (-len(name), name))


def question_shape(prompt: str, names: list[str]) -> str:
    for name in names:
        pattern = r"(?<![\w-])" + re.escape(name) + r"(?![\w-])"
        if re.search(pattern, prompt):
            return re.sub(pattern, "{item}", prompt)
    return prompt


def group_rows(rows: list[dict], by: str, names: list[str]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if by == "prompt":
            key = row["prompt"]
        elif by == "reference":
            key = row["reference"]
        else:
            key = question_shape(row["prompt"], names)
        groups[(row["task"], key)].append(row)
    return groups


def summarize(groups: dict[tuple[str, str], list[dict]], top: int) -> list[dict]:
    table = []
    for (task, key), members in sorted(groups.items()):
        scores = [row["score"] for row in members if row["score"] is not None]
        predictions = Counter(row["prediction"] for row in members).most_common(top)
        table.append({
            "task": task,
            "group": key,
            "answers": len(members),
            "score": sum(scores) / len(scores) if scores else None,
            "predicted": ", ".join(f"{text!r} {count}" for text, count in predictions),
        })
    return table


def render(table: list[dict], by: str, form: str) -> str:
    header = ["task", by, "answers", "mean score", "commonest predictions"]
    lines = []
    for row in table:
        score = "-" if row["score"] is None else f"{row['score']:.3f}"
        lines.append([row["task"], row["group"], str(row["answers"]), score, row["predicted"]])
    if form == "tsv":
        return "\n".join("\t".join(cells) for cells in [header, *lines]) + "\n"
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |" for cells in lines]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("file", type=Path, help="answers written by fedvlm eval --predictions")
    parser.add_argument("--task", action="append", help="only this task (repeatable); default: every task")
    parser.add_argument("--by", choices=("question", "prompt", "reference"), default="question")
    parser.add_argument("--top", type=int, default=3, help="commonest predictions listed per group (default 3)")
    parser.add_argument("--format", choices=("markdown", "tsv"), default="markdown")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error(f"--top must be at least 1, got {args.top}")
    try:
        rows = read_answers(args.file)
    except (OSError, AnswersError) as error:
        print(f"answers.py: {error}", file=sys.stderr)
        return 1
    names = item_names(rows)  # from every task, before --task narrows the rows
    if args.task:
        unknown = sorted(set(args.task) - {row["task"] for row in rows})
        if unknown:
            print(f"answers.py: {args.file} holds no answers of task {', '.join(unknown)}", file=sys.stderr)
            return 1
        rows = [row for row in rows if row["task"] in args.task]
    sys.stdout.write(render(summarize(group_rows(rows, args.by, names), args.top), args.by, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
