#!/usr/bin/env python3
"""The measurements of `mllmu bench-model` in PyTorch + transformers, on the same inputs.

* forward_b4x128_s: no-grad forward of 4 rows x 128 tokens, one image per row.
* generate_50_s: greedy generate(max_new_tokens=50, min_new_tokens=50, do_sample=False)
  for one image prompt (row 0 without its answer), prefill included.
* train_step_b4x128_s: forward with labels on the answer tokens, backward, one optimizer
  step, every weight trainable. The optimizer is transformers.AdamW (the algorithm
  mllmu::train::AdamW reproduces; eps 1e-6, lr 1e-5) unless --optimizer torch picks
  torch.optim.AdamW (eps 1e-6, lr 1e-5, weight_decay 0, default foreach implementation).

Each is the median of --repeats timed runs after --warmup untimed ones. Inputs are
rebuilt exactly as src/bin/mllmu/bench_model.rs does: SplitMix64 ids (seed 0) drawn from the
non-special ids, rows `BOS, <image> x S, question, answer`, and synthetic images
(3x + 5y + 85c + 37*row) mod 256 of 160x120 run through the checkpoint's image processor.

    /work/venv-torch/bin/python benches/model/pytorch_bench.py --model DIR --threads 2 --json
"""
import argparse
import hashlib
import json
import statistics
import sys
import time
import warnings

import numpy as np
import torch
import transformers
from PIL import Image
from transformers import AutoTokenizer, CLIPImageProcessor, LlavaForConditionalGeneration

BATCH, SEQ_LEN, NEW_TOKENS = 4, 128, 50
IMAGE_WIDTH, IMAGE_HEIGHT = 160, 120
TRAIN_LR = 1e-5
MASK64 = (1 << 64) - 1


def splitmix64(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def synthetic_image(width, height, index):
    x = np.arange(width)[None, :, None]
    y = np.arange(height)[:, None, None]
    c = np.arange(3)[None, None, :]
    return Image.fromarray(((3 * x + 5 * y + 85 * c + 37 * index) % 256).astype(np.uint8), "RGB")


def bench_inputs(model_dir, config, seed):
    tok = AutoTokenizer.from_pretrained(model_dir)
    added = set(tok.added_tokens_decoder.keys())
    n = min(config.text_config.vocab_size, len(tok))
    pool = [i for i in range(n) if i not in added]
    s = config.image_seq_length
    rest = SEQ_LEN - 1 - s
    answer = (rest + 1) // 2
    prompt_len = SEQ_LEN - answer
    rng = splitmix64(seed)
    rows, labels = [], []
    for _ in range(BATCH):
        row = [tok.bos_token_id] + [config.image_token_index] * s
        while len(row) < SEQ_LEN:
            row.append(pool[next(rng) % len(pool)])
        rows.append(row)
        labels.append([-100 if i < prompt_len else t for i, t in enumerate(row)])
    proc = CLIPImageProcessor.from_pretrained(model_dir)
    images = [synthetic_image(IMAGE_WIDTH, IMAGE_HEIGHT, i) for i in range(BATCH)]
    pixels = proc(images=images, return_tensors="pt")["pixel_values"]
    return torch.tensor(rows), torch.tensor(labels), prompt_len, pixels


def time_runs(fn, warmup, repeats, cuda):
    for _ in range(warmup):
        fn()
        if cuda:
            torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--optimizer", default="transformers", choices=["transformers", "torch"])
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"

    def load():
        m = LlavaForConditionalGeneration.from_pretrained(
            args.model, torch_dtype=dtype, attn_implementation=args.attn
        )
        return m.to(dev)

    model = load().eval()
    ids, labels, prompt_len, pixels = bench_inputs(args.model, model.config, 0)
    ids, labels, pixels = ids.to(dev), labels.to(dev), pixels.to(dev, dtype)
    params = sum(p.numel() for p in model.parameters())

    def forward():
        with torch.no_grad():
            model(input_ids=ids, pixel_values=pixels)

    fwd = time_runs(forward, args.warmup, args.repeats, cuda)

    prompt = ids[:1, :prompt_len]
    image0 = pixels[:1]
    mask = torch.ones_like(prompt)

    def generate():
        with torch.no_grad():
            out = model.generate(
                input_ids=prompt,
                pixel_values=image0,
                attention_mask=mask,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=model.config.pad_token_id,
            )
        n = out.shape[1] - prompt_len
        if n != NEW_TOKENS:
            raise SystemExit(f"generate produced {n} tokens, expected {NEW_TOKENS}")

    gen = time_runs(generate, args.warmup, args.repeats, cuda)
    del model

    model = load().train()
    for p in model.parameters():
        p.requires_grad_(True)
    if args.optimizer == "transformers":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = transformers.AdamW(model.parameters(), lr=TRAIN_LR, eps=1e-6, weight_decay=0.0)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR, eps=1e-6, weight_decay=0.0)

    def train_step():
        loss = model(input_ids=ids, pixel_values=pixels, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    train = time_runs(train_step, args.warmup, args.repeats, cuda)

    report = {
        "forward_b4x128_s": statistics.median(fwd),
        "generate_50_s": statistics.median(gen),
        "train_step_b4x128_s": statistics.median(train),
        "threads": torch.get_num_threads(),
        "device": str(dev),
        "dtype": args.dtype,
        "params": params,
        "prompt_len": prompt_len,
        "ids_sha256": hashlib.sha256(
            ";".join(",".join(str(t) for t in r) for r in ids.tolist()).encode()
        ).hexdigest(),
        "pixel_sum": float(pixels.double().sum()),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "optimizer": f"{args.optimizer}.AdamW",
        "attn_implementation": args.attn,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "samples": {"forward": fwd, "generate": gen, "train_step": train},
    }
    if args.json:
        print(json.dumps(report))
    else:
        for k in ("forward_b4x128_s", "generate_50_s", "train_step_b4x128_s"):
            print(f"{k}\t{report[k]:.4f}")
        print(f"threads {report['threads']}, params {params}, torch {torch.__version__}, "
              f"transformers {transformers.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
