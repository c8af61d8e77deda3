"""tools/answers.py: answers grouped by question, by exact prompt and by reference; the groups
weighted by their counts give the task's metric; bad files name their line."""
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS


def answer(row, task, prompt, prediction, reference, score):
    return {"row": row, "task": task, "prompt": prompt, "prediction": prediction, "reference": reference, "score": score}


ANSWERS = [
    answer(0, "cls", "what item is shown?", "coat", "coat", 1.0),
    answer(1, "cls", "what item is shown?", "coat", "ankle boot", 0.0),
    answer(2, "cls", "what item is shown?", "t-shirt", "t-shirt", 1.0),
    answer(3, "vqa", "is this a coat?", "no", "yes", 0.0),
    answer(4, "vqa", "is this a ankle boot?", "no", "no", 1.0),
    answer(5, "vqa", "is this a t-shirt?", "no", "no", 1.0),
    answer(6, "vqa", "is this a coat?", "no", "no", 1.0),
    answer(7, "vqa", "where is the item?", "center", "top left", 0.0),
    answer(8, "ground", "where is the coat?", "1 2 3 4", "1 2 3 5", 0.75),
    answer(9, "cap", "describe the image.", "a coat", "a small coat", None),
]


class AnswersTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.file = Path(self.tmp.name) / "answers.jsonl"
        self.file.write_text("".join(json.dumps(a) + "\n" for a in ANSWERS))

    def tearDown(self):
        self.tmp.cleanup()

    def table(self, *extra, expect=0):
        result = subprocess.run([PYTHON, str(TOOLS / "answers.py"), str(self.file), "--format", "tsv", *extra],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, expect, result.stderr)
        if expect:
            return result.stderr
        lines = result.stdout.splitlines()
        return {(cells[0], cells[1]): cells[2:] for cells in (line.split("\t") for line in lines[1:])}

    def test_questions_are_grouped_with_the_item_names_taken_out(self):
        rows = self.table()
        self.assertEqual(rows[("vqa", "is this a {item}?")], ["4", "0.750", "'no' 4"])
        self.assertEqual(rows[("vqa", "where is the item?")], ["1", "0.000", "'center' 1"])
        self.assertEqual(rows[("ground", "where is the {item}?")], ["1", "0.750", "'1 2 3 4' 1"])
        self.assertEqual(rows[("cap", "describe the image.")], ["1", "-", "'a coat' 1"])
        self.assertEqual(rows[("cls", "what item is shown?")], ["3", "0.667", "'coat' 2, 't-shirt' 1"])
        self.assertEqual(len(rows), 5)

    def test_count_weighted_groups_give_the_task_mean(self):
        for by in ("question", "prompt", "reference"):
            rows = self.table("--task", "vqa", "--by", by)
            self.assertTrue(all(task == "vqa" for task, _ in rows), rows)
            total = sum(int(cells[0]) for cells in rows.values())
            mean = sum(int(cells[0]) * float(cells[1]) for cells in rows.values()) / total
            self.assertEqual(total, 5)
            self.assertAlmostEqual(mean, 3 / 5, places=3)

    def test_by_prompt_and_by_reference(self):
        rows = self.table("--task", "vqa", "--by", "prompt", "--top", "1")
        self.assertEqual(rows[("vqa", "is this a coat?")], ["2", "0.500", "'no' 2"])
        self.assertEqual(rows[("vqa", "is this a ankle boot?")], ["1", "1.000", "'no' 1"])
        rows = self.table("--task", "vqa", "--by", "reference")
        self.assertEqual(rows[("vqa", "yes")], ["1", "0.000", "'no' 1"])
        self.assertEqual(rows[("vqa", "no")], ["3", "1.000", "'no' 3"])

    def test_bad_input_names_the_line(self):
        lines = self.file.read_text().splitlines()
        old = dict(ANSWERS[2])
        del old["prompt"]
        self.file.write_text("\n".join([lines[0], lines[1], json.dumps(old)]) + "\n")
        self.assertIn(f"{self.file}:3: no prompt (written by a fedvlm older", self.table(expect=1))
        self.file.write_text(lines[0] + "\n{not json\n")
        self.assertIn(f"{self.file}:2: not JSON", self.table(expect=1))
        self.file.write_text("".join(json.dumps(a) + "\n" for a in ANSWERS))
        self.assertIn("no answers of task bogus", self.table("--task", "bogus", expect=1))


if __name__ == "__main__":
    unittest.main()
