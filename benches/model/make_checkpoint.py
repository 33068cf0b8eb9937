#!/usr/bin/env python3
"""Builds the ~40M-parameter LLaVA-shaped checkpoint with random weights used to compare
`mllmu bench-model` with PyTorch (benches/model/compare.sh).

Vision: CLIP, 112 px, patch 14 (64 patches), width 384, 6 layers, 6 heads, MLP 1536.
Text: Llama, width 512, 8 layers, 8 heads, MLP 1376, vocabulary 1472 (the fixture
tokenizer of tests/fixtures/tiny-llava, <image> = 1456, <pad> = 1457).
Projector 384 -> 512 -> 512 (GELU), image_seq_length 64, vision feature layer -2.

Weights are transformers' own random initialisation under torch.manual_seed(seed), saved
in float32 with the tokenizer and processor files. Needs torch and transformers 4.45.1:

    /work/venv-torch/bin/python benches/model/make_checkpoint.py [--out DIR] [--seed 0]
"""
import argparse
import json
import shutil
from pathlib import Path

import torch
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "tiny-llava"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


def build_config() -> LlavaConfig:
    vision = CLIPVisionConfig(
        image_size=112,
        patch_size=14,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=6,
        intermediate_size=1536,
        projection_dim=512,
    )
    text = LlamaConfig(
        hidden_size=512,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=8,
        intermediate_size=1376,
        vocab_size=1472,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=1457,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_index=1456,
        pad_token_id=1457,
        image_seq_length=64,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        tie_word_embeddings=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(REPO / "target" / "bench-model-40m"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)

    torch.manual_seed(args.seed)
    model = LlavaForConditionalGeneration(build_config()).to(torch.float32).eval()
    model.generation_config.bos_token_id = 1
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 1457
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)

    for name in TOKENIZER_FILES:
        shutil.copyfile(FIXTURE / name, out / name)
    pre = json.loads((FIXTURE / "preprocessor_config.json").read_text())
    pre["size"] = {"shortest_edge": 112}
    pre["crop_size"] = {"height": 112, "width": 112}
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    proc = json.loads((FIXTURE / "processor_config.json").read_text())
    proc["patch_size"] = 14
    (out / "processor_config.json").write_text(json.dumps(proc, indent=2) + "\n")

    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(out), "params": n, "seed": args.seed}))


if __name__ == "__main__":
    main()
