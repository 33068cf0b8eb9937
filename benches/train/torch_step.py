"""PyTorch reference for tests/train_run_bench.rs: the same synthetic batch, one training
step (forward, backward, transformers.AdamW) timed over N steps after one warm-up step.
Prints one JSON line: samples/s and peak resident memory (ru_maxrss).

Full fine-tuning only (float32, every parameter trainable): the venv has no peft.
"""
import argparse
import json
import resource
import time

import torch
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration
from transformers.optimization import AdamW

QUESTION = "What is the hobby of this person?"
ANSWER = "She restores typewriters in Riga."


def image():
    img = Image.new("RGB", (64, 64))
    img.putdata([(4 * x, 4 * y, 128) for y in range(64) for x in range(64)])
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    processor = AutoProcessor.from_pretrained(a.model)
    model = LlavaForConditionalGeneration.from_pretrained(a.model, torch_dtype=torch.float32).to(device)
    model.train()
    prompt = f"USER: <image>\n{QUESTION}\nASSISTANT: {ANSWER}"
    inputs = processor(text=[prompt] * a.batch, images=[image()] * a.batch, return_tensors="pt", padding=True)
    inputs = {k: v.to(device) for k, v in inputs.items()}
    labels = inputs["input_ids"].clone()
    labels[labels == processor.tokenizer.pad_token_id] = -100
    opt = AdamW(model.parameters(), lr=2e-5, eps=1e-6, no_deprecation_warning=True)

    def step():
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        value = loss.item()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return value

    first = step()
    t0 = time.perf_counter()
    last = first
    for _ in range(a.steps):
        last = step()
    secs = time.perf_counter() - t0
    out = {
        "impl": "pytorch",
        "mode": "full",
        "device": str(device),
        "batch": a.batch,
        "seq_len": int(inputs["input_ids"].shape[1]),
        "steps": a.steps,
        "trainable_parameters": sum(p.numel() for p in model.parameters()),
        "step_seconds": secs / a.steps,
        "samples_per_sec": a.steps * a.batch / secs,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "loss_first": first,
        "loss_last": last,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


if __name__ == "__main__":
    main()
