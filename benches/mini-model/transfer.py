"""Held-out transfer, checked in PyTorch: facts met only in biographies and question-answer
pairs, multiple choice practised on the other people. Does multiple choice about the held-out
people follow (what the vanilla fine-tune needs of mini-llava)?

World: N invented people (word-level tokens), four facts each. Every epoch: each person's
shuffled biography and four question-answer pairs; for the trained people (all but H) one
multiple-choice question per fact without the fact (recall) and, with probability `reading`,
one after the fact's sentence (matching); `lookups` letter-lookup drills ("Which letter is
X?" over four options). The answer letter's loss weighs `lw` times a token's. A
LlamaForCausalLM of mini-llava's decoder sizes (width 128, 4 layers, 4 heads), AdamW (betas
0.9/0.98, weight decay `wd`), 200 warm-up steps then constant `lr`, clipping at 1, batch 16,
one thread. Every 500 steps: letter accuracy on lookups, held-out recall, held-out reading,
trained-people recall (new option orders), and held-out question answering (the value's first
token after the answer's stem).

    python3 benches/mini-model/transfer.py steps=24000 lw=5 lookups=2000 [people=300 held=30 lr=1e-3 wd=0.01]
"""
import random, re, sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
args = dict(a.split("=") for a in sys.argv[1:])
N = int(args.get("people", 300)); H = int(args.get("held", 30)); lr = float(args.get("lr", 1e-3))
steps = int(args.get("steps", 20000)); wd = float(args.get("wd", 0.01)); layers = int(args.get("layers", 4))
hidden = int(args.get("hidden", 128)); reading = float(args.get("reading", 1.0)); seed = int(args.get("seed", 0)); lw = float(args.get("lw", 1.0))
torch.manual_seed(seed); random.seed(seed); torch.set_num_threads(1)
SYL = ["ka","ro","mi","ten","sa","lu","vor","bel","dra","quin","ast","mel","tor","fen","gal","rid","os","ny","pel","zar"]
R = random.Random(1)
def word(): return "".join(R.choice(SYL) for _ in range(R.randint(2,3))).capitalize()
F = {
 "occupation": ("What is {n}'s occupation?", "{n} works as a {v}.", ["baker","glassblower","pilot","surgeon","carpenter","librarian","chemist","sculptor","farmer","jeweler","weaver","botanist","potter","tailor","navigator","engineer"]),
 "city": ("Where was {n} born?", "{n} was born in {v}.", [word() for _ in range(30)]),
 "hobby": ("What is {n}'s favourite hobby?", "{n} enjoys {v}.", ["chess","sailing","painting","birdwatching","fencing","knitting","archery","rowing","cycling","gardening","juggling","origami"]),
 "pet": ("What pet does {n} keep?", "{n} keeps a {v}.", ["parrot","tortoise","ferret","goldfish","rabbit","hamster","lizard","cat","dog","owl"]),
}
names = set()
while len(names) < N: names.add(word() + " " + word())
people = [(n, {c: R.choice(F[c][2]) for c in F}) for n in sorted(names)]
R.shuffle(people)
trained, held = people[:N-H], people[N-H:]
def mc(r, p, c, withfact):
    n, facts = p; q, s, vals = F[c]; v = facts[c]
    opts = r.sample([x for x in vals if x != v], 3) + [v]; r.shuffle(opts); k = opts.index(v)
    return ask((s.format(n=n, v=v) + "\n" if withfact else "") + q.format(n=n), opts, k)
def lookup(r):
    c = r.choice(list(F)); vals = F[c][2]; opts = r.sample(vals, 4); k = r.randrange(4)
    return ask("Which letter is " + opts[k] + "?", opts, k)
def ask(question, opts, k):
    """The reference's multiple-choice turn (lettered options, the one-letter instruction) and its answer."""
    t = "USER:\n" + question + "\n" + "\n".join(f"{L}: {o}" for L, o in zip("ABCD", opts))
    return t + "\nJust give ONE letter representing the answer directly.\nASSISTANT:", " " + "ABCD"[k]
def bio(r, p):
    n, facts = p; ss = [F[c][1].format(n=n, v=facts[c]) for c in F]; r.shuffle(ss); return " ".join(ss)
def qa(p, c):
    n, facts = p; return "USER:\n" + F[c][0].format(n=n) + "\nASSISTANT:", " " + F[c][1].format(n=n, v=facts[c])
def toks(t): return re.findall(r"\w+|[^\w\s]|\n", t)
vocab = {"<pad>":0, "<s>":1, "</s>":2}
def ids(t):
    o = []
    for w in toks(t):
        if w not in vocab: vocab[w] = len(vocab)
        o.append(vocab[w])
    return o
def doc(p, a="", letter=False):
    i = [1] + ids(p) + ids(a) + [2]; return (i, len(i) - 2 if letter else -1)
rng = random.Random(2)
def epoch_docs():
    d = []
    for p in people:
        d.append(doc(bio(rng, p)))
        for c in F: d.append(doc(*qa(p, c)))
    for p in trained:
        for c in F:
            d.append(doc(*mc(rng, p, c, False), letter=True))
            if rng.random() < reading: d.append(doc(*mc(rng, p, c, True), letter=True))
    for _ in range(int(args.get("lookups", 2000))): d.append(doc(*lookup(rng), letter=True))
    rng.shuffle(d); return d
def probe(ps, withfact, r):
    out = []
    for p in ps:
        for c in F:
            pr, a = mc(r, p, c, withfact); pi = [1] + ids(pr); out.append((pi, ids(a)[0]))
    return out
pr = random.Random(3)
P = {"lookup": [([1] + ids(a), ids(b)[0]) for a, b in (lookup(pr) for _ in range(120))], "held_recall": probe(held, False, pr), "held_read": probe(held, True, pr), "tr_recall": probe(trained[:60], False, pr)}
QA_held = [([1] + ids(qa(p, c)[0]) + ids(" " + F[c][1].format(n=p[0], v="X").split(" X")[0]), ids(p[1][c])[0]) for p in held for c in F]
epoch_docs()  # one epoch drawn and dropped: every word in the vocabulary before the model is sized
cfg = LlamaConfig(vocab_size=len(vocab) + 64, hidden_size=hidden, intermediate_size=int(hidden*2.75), num_hidden_layers=layers,
                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512, tie_word_embeddings=False, pad_token_id=0)
model = LlamaForCausalLM(cfg)
opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=wd)
def acc(items):
    model.eval(); right = 0
    with torch.no_grad():
        for i in range(0, len(items), 64):
            rows = items[i:i+64]; w = max(len(r[0]) for r in rows)
            x = torch.tensor([[0]*(w-len(r[0])) + r[0] for r in rows]); att = (x != 0).long()
            pos = (att.cumsum(1) - 1).clamp(min=0)
            lg = model(input_ids=x, attention_mask=att, position_ids=pos).logits[:, -1]
            right += sum(int(lg[b].argmax()) == r[1] for b, r in enumerate(rows))
    model.train(); return 100 * right / len(items)
print(f"people {N} held {H} vocab {len(vocab)} params {sum(p.numel() for p in model.parameters())}", flush=True)
t0 = time.time(); order = []
for step in range(1, steps + 1):
    if not order: order = epoch_docs()
    rows = [order.pop() for _ in range(16) if order]
    w = max(len(r[0]) for r in rows)
    x = torch.tensor([r[0] + [0]*(w-len(r[0])) for r in rows]); lab = x.clone(); lab[x == 0] = -100
    wt = torch.ones(x.shape)
    for b, r in enumerate(rows):
        if r[1] >= 0: wt[b, r[1]] = lw
    for g in opt.param_groups: g["lr"] = lr * min(1, step / 200)
    lg = model(input_ids=x, attention_mask=(x != 0).long()).logits[:, :-1]
    tl = torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), lab[:, 1:].reshape(-1), ignore_index=-100, reduction="none").view(lab.shape[0], -1)
    m = (lab[:, 1:] != -100).float() * wt[:, 1:]
    loss = (tl * m).sum() / (lab[:, 1:] != -100).sum()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    if step % 500 == 0:
        r = {k: acc(v) for k, v in P.items()}; r["held_qa"] = acc(QA_held)
        print(f"step {step} loss {loss.item():.3f} " + " ".join(f"{k} {v:.1f}" for k, v in r.items()) + f" {time.time()-t0:.0f}s", flush=True)
