#!/usr/bin/env python3
"""Check that a checkpoint folder written by mllmu loads in Python transformers.

usage: transformers_load.py CHECKPOINT_DIR IMAGE PROMPT [MAX_NEW_TOKENS]

Loads the folder with LlavaForConditionalGeneration (float32) and AutoProcessor, prints the
missing / unexpected / mismatched keys (all must be empty), then the greedy new ids and the
last-position top-5 logits as JSON, for comparison with
`mllmu generate --model DIR --image IMAGE --prompt PROMPT --max-new-tokens N --json`.
Needs torch and transformers 4.45.1 (e.g. the venv of benches/model/README.md).
"""
import json
import sys

import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration


def main() -> int:
    folder, image, prompt = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    model, info = LlavaForConditionalGeneration.from_pretrained(
        folder, torch_dtype=torch.float32, output_loading_info=True
    )
    bad = {k: info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info[k]}
    proc = AutoProcessor.from_pretrained(folder)
    inputs = proc(images=Image.open(image).convert("RGB"), text=prompt, return_tensors="pt")
    with torch.no_grad():
        last = model(**inputs).logits[0, -1]
        out = model.generate(**inputs, max_new_tokens=n, do_sample=False)
    top = torch.topk(last, 5)
    print(json.dumps({
        "loading_problems": bad,
        "input_ids": inputs["input_ids"][0].tolist(),
        "new_ids": out[0, inputs["input_ids"].shape[1]:].tolist(),
        "first_step_top5": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
    }))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
