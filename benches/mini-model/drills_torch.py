import json, math, random, sys, time
import torch
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0); random.seed(0); torch.set_num_threads(2)
tok = Tokenizer.from_file("/tmp/drills_tokenizer.json")
docs = [json.loads(l) for l in open("/tmp/drills.jsonl")]
def enc(d):
    e = tok.encode(d["text"])
    ids = list(e.ids) + [2]
    lab = [-100] * len(ids)
    for k, (s, t) in enumerate(e.offsets):
        if t > s and any(s < b and t > a for a, b in d["learn"]):
            lab[k] = ids[k]
    lab[-1] = 2
    return ids, lab
data = [enc(d) for d in docs]
test, train = data[-320:], data[:-320]
letters = {tok.token_to_id("▁" + c): c for c in "ABCD"}
print("letter ids", letters, "example", tok.encode(docs[0]["text"]).tokens[-6:], flush=True)
cfg = LlamaConfig(vocab_size=2048, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, pad_token_id=0)
model = LlamaForCausalLM(cfg)
lr, steps, bs = float(sys.argv[1]) if len(sys.argv) > 1 else 3e-3, int(sys.argv[2]) if len(sys.argv) > 2 else 2000, 16
opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)
def lr_at(s):
    if s <= 50: return lr * s / 50
    p = (s - 50) / max(1, steps - 50)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
def batch(rows):
    w = max(len(r[0]) for r in rows)
    ids = torch.tensor([r[0] + [0] * (w - len(r[0])) for r in rows])
    lab = torch.tensor([r[1] + [-100] * (w - len(r[1])) for r in rows])
    att = torch.tensor([[1] * len(r[0]) + [0] * (w - len(r[0])) for r in rows])
    return ids, lab, att
def accuracy():
    model.eval(); right = 0
    with torch.no_grad():
        for i in range(0, len(test), 32):
            rows = test[i:i + 32]
            ids, lab, att = batch(rows)
            logits = model(input_ids=ids, attention_mask=att).logits
            for b, r in enumerate(rows):
                k = next((j for j, l in enumerate(r[1]) if l != -100 and l != 2), None)
                if k is None: continue
                pred = logits[b, k - 1].argmax().item()
                right += pred == r[1][k]
    model.train(); return 100 * right / len(test)
t0 = time.time(); order = []
for step in range(1, steps + 1):
    if not order: order = list(range(len(train))); random.shuffle(order)
    rows = [train[order.pop()] for _ in range(min(bs, len(order)))]
    ids, lab, att = batch(rows)
    for g in opt.param_groups: g["lr"] = lr_at(step)
    loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
    opt.zero_grad(); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    if step % 50 == 0: print(f"step {step} loss {loss.item():.4f} {time.time()-t0:.0f}s", flush=True)
    if step % 250 == 0: print(f"step {step} accuracy {accuracy():.1f}%", flush=True)
