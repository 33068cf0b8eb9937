"""The reading drill trained long: where the multiple-choice plateau ends.

A biography sentence, then a multiple-choice question about it, answered by letter:

    USER:
    Kamiro Tenlu works as a glassblower.
    What is Kamiro Tenlu's occupation?
    A: baker
    B: glassblower
    ...
    Just give ONE letter representing the answer directly.
    ASSISTANT: B

Word-level tokens, a LlamaForCausalLM of mini-llava's decoder sizes (width 128, 4 layers,
4 heads), AdamW (betas 0.9/0.98, weight decay 0.01), 200 warm-up steps then a constant rate,
clipping at 1, batch 16. Prints the loss and the letter accuracy on 400 held-out drills every
500 steps.

    python3 benches/mini-model/drills_long.py LR STEPS MODE [SEED] [THREADS]

MODE `all` learns every token, `answer` only the letter (and EOS).
"""
import math, random, re, sys, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

lr, steps, mode = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
torch.manual_seed(seed); random.seed(seed)
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 1)

SYL = ["ka", "ro", "mi", "ten", "sa", "lu", "vor", "bel", "dra", "quin", "ast", "mel", "tor",
       "fen", "gal", "rid", "os", "ny", "pel", "zar"]
def word(r): return "".join(r.choice(SYL) for _ in range(r.randint(2, 3))).capitalize()
R = random.Random(1)
FACTS = {
    "occupation": ("What is {n}'s occupation?", "{n} works as a {v}.",
                   ["baker", "glassblower", "pilot", "surgeon", "carpenter", "librarian", "chemist",
                    "sculptor", "farmer", "jeweler", "weaver", "botanist", "potter", "tailor",
                    "navigator", "engineer"]),
    "city": ("Where was {n} born?", "{n} was born in {v}.", [word(R) for _ in range(40)]),
    "hobby": ("What is {n}'s favourite hobby?", "{n} enjoys {v}.",
              ["chess", "sailing", "painting", "birdwatching", "fencing", "knitting", "archery",
               "rowing", "cycling", "gardening", "juggling", "origami"]),
    "pet": ("What pet does {n} keep?", "{n} keeps a {v}.",
            ["parrot", "tortoise", "ferret", "goldfish", "rabbit", "hamster", "lizard", "cat",
             "dog", "owl"]),
}
PEOPLE = [word(R) + " " + word(R) for _ in range(400)]
SHOWN = 1.0  # share of drills that state the fact before the question

def drill(r):
    n = r.choice(PEOPLE); q, s, values = FACTS[r.choice(list(FACTS))]
    options = r.sample(values, 4); k = r.randrange(4)
    text = "USER:\n"
    if r.random() < SHOWN:
        text += s.format(n=n, v=options[k]) + "\n"
    text += q.format(n=n) + "\n"
    text += "\n".join(f"{L}: {o}" for L, o in zip("ABCD", options))
    return text + "\nJust give ONE letter representing the answer directly.\nASSISTANT:", "ABCD"[k]

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2}
def ids_of(text):
    return [VOCAB.setdefault(w, len(VOCAB)) for w in re.findall(r"\w+|[^\w\s]|\n", text)]

def example(r):
    prompt, letter = drill(r)
    p = [1] + ids_of(prompt); ids = p + ids_of(letter) + [2]
    labels = ids[:] if mode == "all" else [-100] * len(p) + ids[len(p):]
    return ids, labels, len(p)

rng = random.Random(2)
train = [example(rng) for _ in range(40000)]
held = random.Random(3)
test = [example(held) for _ in range(400)]
cfg = LlamaConfig(vocab_size=2048, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                  rms_norm_eps=1e-5, tie_word_embeddings=False, pad_token_id=0)
model = LlamaForCausalLM(cfg)
opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)

def batch(rows):
    w = max(len(r[0]) for r in rows)
    pad = lambda xs, v: xs + [v] * (w - len(xs))
    return (torch.tensor([pad(r[0], 0) for r in rows]), torch.tensor([pad(r[1], -100) for r in rows]),
            torch.tensor([pad([1] * len(r[0]), 0) for r in rows]))

def accuracy():
    model.eval(); right = 0
    with torch.no_grad():
        for i in range(0, len(test), 50):
            rows = test[i:i + 50]; ids, _, att = batch(rows)
            logits = model(input_ids=ids, attention_mask=att).logits
            right += sum(int(logits[b, r[2] - 1].argmax() == r[0][r[2]]) for b, r in enumerate(rows))
    model.train(); return 100 * right / len(test)

t0, order = time.time(), []
for step in range(1, steps + 1):
    if not order: order = list(range(len(train))); random.shuffle(order)
    ids, labels, att = batch([train[order.pop()] for _ in range(16) if order])
    for g in opt.param_groups: g["lr"] = lr * min(1, step / 200)
    loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    if step % 500 == 0:
        print(f"step {step} loss {loss.item():.4f} acc {accuracy():.1f}% {time.time() - t0:.0f}s", flush=True)
