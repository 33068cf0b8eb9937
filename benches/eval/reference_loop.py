#!/usr/bin/env python3
"""The reference's evaluation loop, timed: one transformers `generate` per question.

Replays the questions of an `mllmu eval` run (its `report.json`: every prompt byte, the
images it used by set, profile, column and index, the task) the way the reference's scripts
run them (SPEC.md 3.5-3.6): read the benchmark's parquet files with pandas, open each image
from its bytes with PIL, `processor(images=..., text=prompt)` for image prompts and
`tokenizer(prompt)` for text ones, `model.generate(**inputs, max_new_tokens=50,
do_sample=False)` one question at a time, `decode(outputs[0][2:], skip_special_tokens=True)`
and the reference's answer extraction. The model and processor load as the reference loads
them (`LlavaForConditionalGeneration.from_pretrained`, `AutoProcessor.from_pretrained`).

Prints one JSON object: the wall time of the whole process from interpreter start
(`total_s`, imports included, what a user waits for), of the loop alone (`loop_s`), the number
of questions, and how many extracted responses equal mllmu's `raw_output` (the same model
and prompts; greedy decoding agrees unless two logits tie within rounding).

    /work/venv-torch/bin/python benches/eval/reference_loop.py --report OUT/report.json \
        --model tests/fixtures/tiny-llava --bench tests/fixtures/mllmu-sample --threads 2
"""
import time

START = time.time()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import glob  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoProcessor, LlavaForConditionalGeneration  # noqa: E402

MAX_NEW_TOKENS = 50  # every LLaVA task and modality (SPEC 3.5)


def extract(task, text, options):
    """The reference's answer extraction (SPEC 3.6) on the decoded sequence: the response
    text, and for classification the predicted letter (None when it is not an option key)."""
    if "ASSISTANT:" in text:
        resp = text.split("ASSISTANT:")[1].strip()
    elif task != "classification" and "Answer:" in text:
        resp = text.split("Answer:")[1].strip()
    else:
        resp = text.strip()
    if task != "classification":
        return resp, resp
    letter = resp[0].upper() if resp else None
    keys = "ABCDEFGH"[: len(options or [])]
    return resp, (letter if letter and letter in keys else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", required=True, help="report.json of an mllmu eval run")
    ap.add_argument("--model", required=True)
    ap.add_argument("--bench", required=True, help="the benchmark folder mllmu read")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    questions = json.load(open(args.report))["questions"]
    processor = AutoProcessor.from_pretrained(args.model)
    model = LlavaForConditionalGeneration.from_pretrained(args.model, torch_dtype=torch.float32)
    model.eval()

    # the reference reads each split with pandas and keeps the image structs' bytes
    frames = {}

    def image(ref):
        name = ref["set"]
        if name not in frames:
            files = sorted(glob.glob(os.path.join(args.bench, name, "*.parquet")))
            frames[name] = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        df = frames[name]
        row = df[df["ID"].astype(str) == ref["profile"]].iloc[0]
        cell = row[ref["column"]]
        if ref["column"] == "images":
            cell = cell[ref["index"]]
        return Image.open(io.BytesIO(cell["bytes"])).convert("RGB")

    loop_start = time.time()
    same = 0
    for q in questions:
        images = [image(r) for r in q["images"]]
        if images:
            inputs = processor(
                images=images if len(images) > 1 else images[0], text=q["prompt"], return_tensors="pt"
            )
        else:
            inputs = processor.tokenizer(q["prompt"], return_tensors="pt")
        # classification and cloze run under no_grad, generation does not (SPEC 3.5)
        grad = contextlib.nullcontext() if q["task"] == "generation" else torch.no_grad()
        with grad:
            out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        text = processor.decode(out[0][2:], skip_special_tokens=True)
        resp, _answer = extract(q["task"], text, q.get("options"))
        same += resp == q.get("raw_output")
    loop_s = time.time() - loop_start
    print(
        json.dumps(
            {
                "questions": len(questions),
                "loop_s": loop_s,
                "total_s": time.time() - START,
                "same_raw_output": same,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
