"""The Neural Programmer (Neelakantan, Le, Sutskever 2016, arXiv 1511.04834, §2; docs/MATH.md, "Neural
Programmer"): soft selection of an operation and a column at every step.

This file so far holds the pieces every step is made of, each a forward/backward pair, and the
T steps that chain them (`steps_forward`, `steps_backward`):

    selector        α = softmax(E·tanh(W·[q; h_t]))       (E = U for operations, P for columns)
    operations      every operation runs on the previous steps' outputs; the outputs are mixed
                    by the operation and column weights:

    scalar_t     = α(count)·count + α(difference)·(scalar_{t-3} − scalar_{t-1})
                   + Σ_j α^col(j)·α(sum)·sum_j
    row_select_t = α(and)·min(rs_{t-1}, rs_{t-2}) + α(or)·max(rs_{t-1}, rs_{t-2}) + α(reset)·1
                   + Σ_j α^col(j)·(α(greater)·[table_ij > pivot_g] + α(lesser)·[table_ij < pivot_l])
    lookup_t(i,j)= α^col(j)·α(print)·rs_{t-1}(i)
    with sum_j = Σ_i rs_{t-1}(i)·table_ij and count = Σ_i rs_{t-1}(i).

The comparisons: pivots by rule. The pivots are the numbers the question attaches to "greater"
and "lesser", taken from the question as data, so [table > pivot] is a 0/1 input computed once
per question and no gradient crosses a step function. min and max (and, or) have kinks where
their two arguments are equal; the tests keep away from them and say so.

Tables are padded to R rows with a row mask (B, R); a padded row is never selected, counted or
summed. Below them: the question RNN and the model (`ProgrammerModel`); the loss and the task
are in tasks/table_qa.py.

Five options go beyond the 2016 paper (docs/MATH.md): question attention, where each step also
reads the words its history state attends to (`question_attention_forward`); product logic,
where and/or are rs1·rs2 and rs1 + rs2 − rs1·rs2 (`operations_forward`'s `logic`); an entropy
bonus on every choice (`entropy_forward`, `ProgrammerModel.penalty`); Gumbel noise on every
choice's logits in training (`gumbel_noise`, `ProgrammerModel.choice_noise`); and
straight-through choices, one-hot in training's forward pass with the softmax's gradient
(`selector_forward`'s `straight`).
"""
import numpy as np

from .attention import attend_backward, attend_forward, dot_scores_backward, dot_scores_forward
from .backend import array_module
from .ops import softmax_backward, softmax_forward
from .recurrent import (masked_step, prefixed, sequence_backward, sequence_forward,
                        subparams)
from .rnn import rnn_init, rnn_step_backward, rnn_step_forward
from .seq2seq import embed_backward, embed_forward

# the question RNN's step: padding at the end of a short question leaves its state unchanged
masked_rnn_step_forward, masked_rnn_step_backward = masked_step(rnn_step_forward,
                                                                rnn_step_backward)

OPS = ("sum", "count", "difference", "greater", "lesser", "and", "or", "print", "reset")
OP = {name: k for k, name in enumerate(OPS)}


def selector_forward(q, h, W, E, mask=None, hard=False, noise=None, straight=False,
                     sample=False):
    """α = softmax(E·tanh(W·[q; h]) + noise).

    q: (B, Dq) the question, h: (B, H) the history, W: (Dq + H, D), E: (K, D) one embedding per
    choice (operations, columns or operands). mask: (B, K) boolean, the choices open to each
    example (None: all). hard: the hardmax of evaluation, a one-hot α at the largest logit
    (no backward). noise: None or (B, K) added to the logits, a constant for the backward
    (training's Gumbel noise, `gumbel_noise`). straight: the straight-through estimator, for
    training: α is the hardmax's one-hot, and the backward passes dα through the softmax's
    Jacobian as though α were the softmax (selector_backward is the same code; the softmax's
    cache holds the soft α). sample: training by sampled programs (the pipe's
    `selection="sample"`): α is the one-hot at the largest logit plus the noise, with
    Gumbel(0, 1) noise a draw from softmax(logits) itself (the Gumbel-max trick), and the cache
    holds the noiseless softmax, so that selector_backward differentiates the draw's
    log-probability (pipe.PipeModel.backward). Returns α (B, K) and the cache.
    """
    xp = array_module(q)
    qh = xp.concatenate([q, h], axis=1)
    a = xp.tanh(qh @ W)                                        # (B, D)
    logits = a @ E.T
    if sample:
        alpha, sm_cache = softmax_forward(logits, mask)        # the distribution drawn from
        return _hardmax(logits + noise, mask), (qh, q.shape[1], a, W, E, sm_cache)
    if noise is not None:
        logits = logits + noise
    if hard:
        return _hardmax(logits, mask), None
    alpha, sm_cache = softmax_forward(logits, mask)
    if straight:
        alpha = _hardmax(logits, mask)
    return alpha, (qh, q.shape[1], a, W, E, sm_cache)


def _hardmax(logits, mask):
    """The one-hot at each row's largest logit among the open choices."""
    xp = array_module(logits)
    if mask is not None:
        logits = xp.where(mask, logits, -xp.inf)
    return (logits.argmax(axis=1)[:, None] == xp.arange(logits.shape[1])).astype(logits.dtype)


def soft_choice(sel_cache):
    """The softmax α a training selector computed (selector_forward's cache): the choice
    itself, or under the straight-through estimator the distribution behind the one-hot."""
    return sel_cache[5][0]


def selector_backward(dalpha, cache):
    """Returns dq, dh, dW, dE."""
    qh, Dq, a, W, E, sm_cache = cache
    dlogits = softmax_backward(dalpha, sm_cache)               # through the softmax
    dE = dlogits.T @ a                                         # logits = a·Eᵀ
    dz = (dlogits @ E) * (1.0 - a * a)                         # into a, through the tanh
    dqh = dz @ W.T                                             # a = tanh([q; h]·W)
    return dqh[:, :Dq], dqh[:, Dq:], qh.T @ dz, dE


LOGIC = ("minmax", "product")
SELECTION = ("soft", "straight")


def gumbel_noise(rng, scale, shapes, dtype):
    """scale·g for each of `shapes`, g ~ Gumbel(0, 1) = −log(−log u), u uniform on (0, 1), drawn
    on the host from `rng` (so a run's noise is the same on every backend)."""
    return [(scale * rng.gumbel(size=shape)).astype(dtype) for shape in shapes]


def entropy_forward(alpha):
    """H = −Σ_k α_k·log α_k, the entropy of each example's choice. alpha: (B, K), rows on the
    simplex (a zero weight adds 0). Returns H (B,) and the cache."""
    xp = array_module(alpha)
    log_a = xp.log(xp.maximum(alpha, xp.finfo(alpha.dtype).tiny))
    return -(alpha * log_a).sum(axis=1), (alpha, log_a)


def entropy_backward(dH, cache):
    """dH: (B,). Returns dα = −dH·(log α + 1), (B, K)."""
    alpha, log_a = cache
    return -dH[:, None] * (log_a + 1.0)


def operations_forward(alpha_op, alpha_col, prev, table, row_mask, greater, lesser,
                       logic="minmax"):
    """One step's operations, mixed by the selection weights.

    alpha_op: (B, len(OPS)); alpha_col: (B, C); prev: {'rs1', 'rs2': (B, R) the row selections of
    steps t−1 and t−2; 's1', 's3': (B,) the scalars of steps t−1 and t−3}; table: (B, R, C);
    row_mask: (B, R) 1 on real rows; greater, lesser: (B, R, C) the comparisons [table > pivot_g]
    and [table < pivot_l] as 0/1 (zero on padded rows). logic: what and/or compute, minmax
    (the paper: min(rs1, rs2), max(rs1, rs2)) or product (rs1·rs2, rs1 + rs2 − rs1·rs2). The
    two agree on 0/1 selections; on soft ones the product's and selects less than either
    argument, even when the two are equal, and both arguments get gradient everywhere.
    Returns {'scalar': (B,), 'rs': (B, R), 'lookup': (B, R, C)} and the cache.
    """
    xp = array_module(table)
    a = {name: alpha_op[:, k] for name, k in OP.items()}
    rs1, rs2 = prev["rs1"], prev["rs2"]
    sums = (rs1[:, None, :] @ table)[:, 0]                     # sum_j = Σ_i rs_{t-1}(i) table_ij
    count = rs1.sum(axis=1)                                    # count = Σ_i rs_{t-1}(i)
    scalar = (a["count"] * count + a["difference"] * (prev["s3"] - prev["s1"])
              + a["sum"] * (alpha_col * sums).sum(axis=1))
    if logic == "product":
        lo = rs1 * rs2                                         # and
        hi = rs1 + rs2 - lo                                    # or
    else:
        lo, hi = xp.minimum(rs1, rs2), xp.maximum(rs1, rs2)
    compare = a["greater"][:, None, None] * greater + a["lesser"][:, None, None] * lesser
    rs = (a["and"][:, None] * lo + a["or"][:, None] * hi + a["reset"][:, None] * row_mask
          + (compare * alpha_col[:, None, :]).sum(axis=2))
    lookup = (alpha_col * a["print"][:, None])[:, None, :] * rs1[:, :, None]
    out = {"scalar": scalar, "rs": rs, "lookup": lookup}
    return out, (alpha_op, alpha_col, prev, table, row_mask, greater, lesser, sums, count, lo,
                 hi, None if logic == "product" else rs1 <= rs2)


def operations_backward(dout, cache):
    """dout: {'scalar', 'rs', 'lookup'}. Returns dalpha_op, dalpha_col and {'rs1', 'rs2', 's1',
    's3'}: the gradients of the previous steps' outputs (the table and comparisons are data)."""
    alpha_op, alpha_col, prev, table, row_mask, greater, lesser, sums, count, lo, hi, \
        first_is_min = cache
    xp = array_module(table)
    ds, drs, dlook = dout["scalar"], dout["rs"], dout["lookup"]
    a = {name: alpha_op[:, k] for name, k in OP.items()}
    dop = xp.zeros_like(alpha_op)
    # scalar = α(count)·count + α(diff)·(s3 − s1) + α(sum)·Σ_j α^col_j sum_j
    dop[:, OP["count"]] = ds * count
    dop[:, OP["difference"]] = ds * (prev["s3"] - prev["s1"])
    dop[:, OP["sum"]] = ds * (alpha_col * sums).sum(axis=1)
    dcol = (ds * a["sum"])[:, None] * sums
    dsums = (ds * a["sum"])[:, None] * alpha_col                              # (B, C)
    drs1 = (table @ dsums[:, :, None])[:, :, 0] + (ds * a["count"])[:, None]  # sums and count
    # rs = α(and)·min + α(or)·max + α(reset)·mask + Σ_j α^col_j (α(gt)·gt_ij + α(lt)·lt_ij)
    dop[:, OP["and"]] = (drs * lo).sum(axis=1)
    dop[:, OP["or"]] = (drs * hi).sum(axis=1)
    dop[:, OP["reset"]] = (drs * row_mask).sum(axis=1)
    dop[:, OP["greater"]] = (drs[:, :, None] * greater * alpha_col[:, None, :]).sum(axis=(1, 2))
    dop[:, OP["lesser"]] = (drs[:, :, None] * lesser * alpha_col[:, None, :]).sum(axis=(1, 2))
    compare = a["greater"][:, None, None] * greater + a["lesser"][:, None, None] * lesser
    dcol = dcol + (drs[:, :, None] * compare).sum(axis=1)
    dlo, dhi = a["and"][:, None] * drs, a["or"][:, None] * drs
    if first_is_min is None:                     # product: and = rs1·rs2, or = rs1 + rs2 − and
        rs1, rs2 = prev["rs1"], prev["rs2"]
        drs1 = drs1 + dlo * rs2 + dhi * (1.0 - rs2)
        drs2 = dlo * rs1 + dhi * (1.0 - rs1)
    else:                                        # min, max: the smaller argument takes dlo
        drs1 = drs1 + xp.where(first_is_min, dlo, dhi)
        drs2 = xp.where(first_is_min, dhi, dlo)
    # lookup = α^col_j α(print) rs1_i
    dop[:, OP["print"]] = (dlook * alpha_col[:, None, :] * prev["rs1"][:, :, None]).sum(axis=(1, 2))
    dcol = dcol + (dlook * (a["print"][:, None, None] * prev["rs1"][:, :, None])).sum(axis=1)
    drs1 = drs1 + (dlook * (alpha_col * a["print"][:, None])[:, None, :]).sum(axis=2)
    return dop, dcol, {"rs1": drs1, "rs2": drs2, "s1": -ds * a["difference"],
                       "s3": ds * a["difference"]}


# ----------------------------------------------------------------------------- T steps
def programmer_init(q_size, hidden, embed, columns, rng, dtype):
    """Host parameters of the steps: the history RNN (W_hist, b_hist), the selectors (W_op, U;
    W_col, P): U holds one embedding per operation, P one per column."""
    def dense(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(dtype)
    return {"W_hist": dense(2 * embed + hidden, hidden), "b_hist": np.zeros(hidden, dtype=dtype),
            "W_op": dense(q_size + hidden, embed), "U": dense(embed, len(OPS)).T.copy(),
            "W_col": dense(q_size + hidden, embed), "P": dense(embed, columns).T.copy()}


def question_attention_forward(h, states, mask):
    """What step t reads of the question's words: c^q_t = Σ_i β_i·z_i, β = softmax_i(h_t·z_i)
    over the real words (dot attention, the history state as the query).

    h: (B, H), states: (B, L, H) the question RNN's state after each word, mask: (B, L)
    boolean. Returns (β (B, L), c^q (B, H)) and the cache."""
    e, score_cache = dot_scores_forward(h, states)
    (beta, context), attend_cache = attend_forward(e, mask, states)
    return (beta, context), (score_cache, attend_cache)


def question_attention_backward(dcontext, cache):
    """Returns dh (B, H) and dstates (B, L, H)."""
    score_cache, attend_cache = cache
    de, dstates = attend_backward((0.0, dcontext), attend_cache)
    dh, dkeys = dot_scores_backward(de, score_cache)
    return dh, dstates + dkeys


def question_read_forward(q, h, states):
    """What the selectors read at a step: q (states None), or [q; c^q_t] with c^q_t the words
    h_t attends to (states: (Z, mask), question_attention_forward). Returns the read, β (None
    without attention) and the cache."""
    if states is None:
        return q, None, None
    (beta, context), cache = question_attention_forward(h, *states)
    return array_module(q).concatenate([q, context], axis=1), beta, (q.shape[1], cache)


def question_read_backward(dread, cache):
    """Returns dq, and the gradients of h_t and of Z through the attention (0.0 without)."""
    if cache is None:
        return dread, 0.0, 0.0
    Dq, cache = cache
    dh, dZ = question_attention_backward(dread[:, Dq:], cache)
    return dread[:, :Dq], dh, dZ


def steps_forward(params, q, table, row_mask, greater, lesser, T, hard=False, states=None,
                  logic="minmax", noise=None, straight=False):
    """T steps of soft selection (docs/MATH.md): at step t the history RNN
    h_t = tanh(W_hist·[c_t; h_{t-1}] + b_hist) reads c_t = [α^op_{t-1}ᵀ·U; α^col_{t-1}ᵀ·P]
    (zeros at t = 1, as is h_0), the selectors choose, and the operations run on the outputs
    of steps t−1..t−3 (rs_0 = rs_{-1} = 1 on the real rows, the scalars before step 1 are 0).

    q: (B, Dq). hard: every softmax becomes a hardmax (evaluation; no backward; the question
    attention stays soft: it reads, it does not choose). states: None (the selectors read
    [q; h_t], the 2016 paper) or (Z (B, L, Dq), mask (B, L)), the question RNN's state after
    each word: the selectors then read [q; c^q_t; h_t], with c^q_t the words h_t attends to
    (`question_attention_forward`; the question attention of Neelakantan et al. 2017).
    logic: what and/or compute (operations_forward). noise: None, or one (operation, column)
    pair of (B, K) arrays per step added to the selectors' logits (training's Gumbel noise).
    straight: every choice a one-hot, trained by the straight-through estimator
    (selector_forward).
    Returns the last step's {'scalar', 'rs', 'lookup'}, every step's (α^op, α^col, its outputs)
    (the program and what it made, for figures; with states, β as a fourth) and the cache.
    """
    xp = array_module(q)
    B, H = q.shape[0], params["b_hist"].shape[0]
    E = params["U"].shape[1]
    h = xp.zeros((B, H), dtype=q.dtype)
    c = xp.zeros((B, 2 * E), dtype=q.dtype)
    prev = _first_prev(row_mask)
    caches, choices = [], []
    for t in range(T):
        ch = xp.concatenate([c, h], axis=1)
        h = xp.tanh(ch @ params["W_hist"] + params["b_hist"])
        read, beta, att_cache = question_read_forward(q, h, states)
        g_op, g_col = (None, None) if noise is None else noise[t]
        a_op, op_cache = selector_forward(read, h, params["W_op"], params["U"], hard=hard,
                                          noise=g_op, straight=straight)
        a_col, col_cache = selector_forward(read, h, params["W_col"], params["P"], hard=hard,
                                            noise=g_col, straight=straight)
        out, ops_cache = operations_forward(a_op, a_col, prev, table, row_mask, greater, lesser,
                                            logic)
        caches.append((ch, h, op_cache, col_cache, ops_cache, a_op, a_col, att_cache))
        choices.append((a_op, a_col, out) if states is None else (a_op, a_col, out, beta))
        c = xp.concatenate([a_op @ params["U"], a_col @ params["P"]], axis=1)
        prev = _next_prev(prev, out)
    return out, choices, (caches, params)


def _first_prev(row_mask):
    """What step 1 reads as the earlier steps' outputs: rs_0 = rs_{-1} = 1 on the real rows, and
    the scalars before step 1 are 0."""
    zero = array_module(row_mask).zeros(row_mask.shape[0], dtype=row_mask.dtype)
    return {"rs1": row_mask, "rs2": row_mask, "s1": zero, "s2": zero, "s3": zero}


def _next_prev(prev, out):
    """After step t: its outputs become step t + 1's rs_{t}, s_{t}; the older ones move back."""
    return {"rs1": out["rs"], "rs2": prev["rs1"], "s1": out["scalar"], "s2": prev["s1"],
            "s3": prev["s2"]}


def run_program(ops, cols, table, row_mask, greater, lesser):
    """Run a given program: the operations with one-hot selections (what hardmax does).

    ops: (T, B) operation indices (OP), cols: (T, B) column indices. Returns the last step's
    {'scalar', 'rs', 'lookup'}. The tests run each template's own program with it.
    """
    xp = array_module(table)
    prev = _first_prev(row_mask)
    for op, col in zip(ops, cols):
        a_op = (xp.asarray(op)[:, None] == xp.arange(len(OPS))).astype(table.dtype)
        a_col = (xp.asarray(col)[:, None] == xp.arange(table.shape[2])).astype(table.dtype)
        out, _ = operations_forward(a_op, a_col, prev, table, row_mask, greater, lesser)
        prev = _next_prev(prev, out)
    return out


def steps_backward(dout, cache):
    """dout: the gradients of the last step's {'scalar', 'rs', 'lookup'} and, optionally,
    'choices': a list of (dα^op_t, dα^col_t), one pair per step (a loss term on the choices
    themselves, such as the entropy bonus; `entropy_backward`). Returns dq and the
    parameters' gradients; with question attention (steps_forward's states), dq is the pair
    (dq, dZ)."""
    caches, params = cache
    xp = array_module(dout["scalar"])
    E = params["U"].shape[1]
    grads = {k: xp.zeros_like(v) for k, v in params.items()}
    zero_rs = xp.zeros_like(dout["rs"])
    zero_s = xp.zeros_like(dout["scalar"])
    # gradients flowing into the outputs of steps t, t−1, t−2 (rs) and t, t−1, t−2 (scalars)
    d_rs = [dout["rs"], zero_rs, zero_rs]
    d_s = [dout["scalar"], zero_s, zero_s]
    d_lookup = dout["lookup"]
    d_choice = dout.get("choices")               # (dα^op_t, dα^col_t) of every step, or None
    dh_next = None
    dc = xp.zeros((dout["scalar"].shape[0], 2 * E), dtype=dout["scalar"].dtype)
    dq, dstates = 0.0, 0.0
    for t in range(len(caches) - 1, -1, -1):
        ch, h, op_cache, col_cache, ops_cache, a_op, a_col, att_cache = caches[t]
        # c_{t+1} = [α^op_tᵀ U; α^col_tᵀ P] fed step t + 1
        da_op = dc[:, :E] @ params["U"].T
        da_col = dc[:, E:] @ params["P"].T
        grads["U"] += a_op.T @ dc[:, :E]
        grads["P"] += a_col.T @ dc[:, E:]
        dop, dcol, dprev = operations_backward(
            {"scalar": d_s[0], "rs": d_rs[0], "lookup": d_lookup}, ops_cache)
        da_op, da_col = da_op + dop, da_col + dcol
        if d_choice is not None:                             # a loss term on the choices
            da_op, da_col = da_op + d_choice[t][0], da_col + d_choice[t][1]
        # the previous outputs: rs1 = rs_{t-1}, rs2 = rs_{t-2}, s1 = s_{t-1}, s3 = s_{t-3}
        d_rs = [d_rs[1] + dprev["rs1"], d_rs[2] + dprev["rs2"], zero_rs]
        d_s = [d_s[1] + dprev["s1"], d_s[2], dprev["s3"]]
        d_lookup = xp.zeros_like(d_lookup)
        dq_op, dh, dW, dU = selector_backward(da_op, op_cache)
        dq_col, dh_col, dW_col, dP = selector_backward(da_col, col_cache)
        grads["W_op"] += dW
        grads["U"] += dU
        grads["W_col"] += dW_col
        grads["P"] += dP
        dq_t, dh_att, dZ = question_read_backward(dq_op + dq_col, att_cache)
        dh = dh + dh_col + (0.0 if dh_next is None else dh_next) + dh_att
        dq, dstates = dq + dq_t, dstates + dZ
        dz = dh * (1.0 - h * h)                               # h_t = tanh(W_hist·[c; h] + b)
        grads["W_hist"] += ch.T @ dz
        grads["b_hist"] += dz.sum(axis=0)
        dch = dz @ params["W_hist"].T
        dc, dh_next = dch[:, :2 * E], dch[:, 2 * E:]
    return (dq if caches[0][-1] is None else (dq, dstates)), grads


# ----------------------------------------------------------------------------- the question
def question_init(vocab, embed, hidden, rng, dtype):
    """The question RNN's parameters: word embeddings q_embed (V, embed) and a tanh RNN
    (q_W, q_b) over them."""
    params = {"embed": (0.3 * rng.standard_normal((vocab, embed))).astype(dtype)}
    params.update(rnn_init(embed, hidden, rng, dtype))
    return prefixed(params, "q_")


def question_forward(params, words, mask, keep_cache=True):
    """q = the question RNN's last state: z_i = tanh(W_q·[V(w_i); z_{i-1}] + b_q), z_0 = 0, over
    the words (numbers removed). words: (L, B) integer, mask: (L, B) boolean (padding at the
    end passes the state through). Returns q (B, H), Z (B, L, H) the state after each word
    (zero on padding; what question attention reads) and the cache."""
    xp = array_module(params["q_W"])
    p = subparams(params, "q_")
    emb, emb_cache = embed_forward(p["embed"], words)                        # (L, B, E)
    xm = xp.concatenate([emb, mask[..., None].astype(emb.dtype)], axis=2)
    h0 = {"h": xp.zeros((words.shape[1], p["b"].shape[0]), dtype=emb.dtype)}
    zs, final, caches = sequence_forward(masked_rnn_step_forward, xm, h0, p, keep_cache)
    return final["h"], zs.transpose(1, 0, 2), (emb_cache, caches)


def question_backward(dq, cache, dstates=None):
    """dq: (B, H); dstates: (B, L, H) or None. Returns the gradients of q_embed, q_W, q_b."""
    emb_cache, caches = cache
    xp = array_module(dq)
    L = len(caches)
    dzs = (xp.zeros((L,) + dq.shape, dtype=dq.dtype) if dstates is None
           else xp.ascontiguousarray(dstates.transpose(1, 0, 2)))
    dxm, _, grads = sequence_backward(masked_rnn_step_backward, dzs, {"h": dq}, caches)
    grads["embed"] = embed_backward(dxm[:, :, :-1], emb_cache)
    return prefixed(grads, "q_")


# ----------------------------------------------------------------------------- the model
class ProgrammerModel:
    """The Neural Programmer over a table (the table-qa task): the question RNN, then T steps
    of soft selection (steps_forward), trained on the last step's scalar or lookup output.

    forward_batch(params, batch, train) -> ({'scalar': (B,), 'lookup': (B, R, C), 'op', 'col':
    (T, B, K) the program}, cache): soft selection in training, hardmax in evaluation.
    backward(douts, cache) takes the gradients of 'scalar' and 'lookup'. The batch brings the
    question (x: (L, B) words, x_mask), the table (B, R, C), its row mask (B, R) and the
    comparisons with the question's pivots (greater, lesser: (B, R, C), 0/1).
    Parameter keys: q_embed, q_W, q_b (the question RNN); W_hist, b_hist (the history RNN);
    W_op, U; W_col, P (the selectors).
    """

    name = "programmer"
    options = (("hidden", 64, "units of the question and history RNNs"),
               ("embed", 32, "size of the word embeddings and of each choice's embedding"),
               ("program_steps", 4, "T, the steps of the program"),
               ("question_attention", "none", "how each step reads the question: none (the "
                "2016 paper: the question RNN's last state) or dot (also the words the history "
                "attends to, as in Neelakantan et al. 2017)", ("none", "dot")),
               ("logic", "minmax", "what and/or compute on soft row selections: minmax (the "
                "paper: min and max) or product (rs1·rs2 and rs1 + rs2 − rs1·rs2)", LOGIC),
               ("entropy", 0.0, "β: the loss subtracts β times the entropy of every step's "
                "operation and column choice (mean over questions), a bonus that keeps the "
                "choices open while the program forms; 0, the paper: none"),
               ("entropy_steps", 0, "K: β falls linearly to 0 over the first K training steps "
                "(0: β stays constant)"),
               ("gumbel", 0.0, "σ: in training, add σ·g, g ~ Gumbel(0, 1), to the logits of "
                "every choice, so that each question trains a nearly sampled program (the "
                "Gumbel-softmax trick); 0, the paper: none"),
               ("selection", "soft", "how training chooses: soft (the paper: the softmax "
                "weights every choice) or straight (each choice is the one-hot at its largest "
                "logit, noise included, and its gradient the softmax's: the straight-through "
                "estimator, so training runs only discrete programs, as evaluation does)",
                SELECTION))
    train_defaults = {"optimizer": "adam", "lr": 1e-3, "clip_norm": 10.0, "batch_size": 64}
    # what checkpoints without these keys were made with: older ones, and those that keep the
    # defaults (saved only when set)
    predates = {"question_attention": "none", "logic": "minmax", "entropy": 0.0,
                "entropy_steps": 0, "gumbel": 0.0, "selection": "soft"}
    # where training stands (at_step): the entropy bonus's schedule and the Gumbel noise's seed
    # (None until a trainer calls at_step: figures and the explorer see noiseless choices)
    step, seed, part = 0, None, 0

    def __init__(self, input_size, output_size, hidden=64, embed=32, program_steps=None,
                 question_attention="none", logic="minmax", entropy=0.0, entropy_steps=0,
                 gumbel=0.0, selection="soft"):
        if program_steps is None:                         # the class's own default
            program_steps = next(o[1] for o in self.options if o[0] == "program_steps")
        for what, v in (("hidden", hidden), ("embed", embed), ("program_steps", program_steps)):
            if int(v) < 1:
                raise ValueError(f"{what} must be at least 1")
        if question_attention not in ("none", "dot"):
            raise ValueError("question_attention must be none or dot")
        if logic not in LOGIC:
            raise ValueError(f"logic must be one of {', '.join(LOGIC)}")
        if selection not in SELECTION:
            raise ValueError(f"selection must be one of {', '.join(SELECTION)}")
        for what, v in (("entropy", entropy), ("gumbel", gumbel)):
            if not float(v) >= 0.0 or not np.isfinite(float(v)):
                raise ValueError(f"{what} must be a finite number >= 0")
        if int(entropy_steps) < 0:
            raise ValueError("entropy_steps must be at least 0")
        self.config = {"input_size": int(input_size), "output_size": int(output_size),
                       "hidden": int(hidden), "embed": int(embed),
                       "program_steps": int(program_steps)}
        # saved only when set (`predates`), so the pipe's constructor never meets logic
        if question_attention != "none":
            self.config["question_attention"] = question_attention
        if logic != "minmax":
            self.config["logic"] = logic
        if float(entropy) > 0.0:
            self.config["entropy"] = float(entropy)
        if int(entropy_steps) > 0:
            self.config["entropy_steps"] = int(entropy_steps)
        if float(gumbel) > 0.0:
            self.config["gumbel"] = float(gumbel)
        if selection != "soft":
            self.config["selection"] = selection

    @property
    def label(self):
        return f"{self.title}, T = {self.config['program_steps']}"

    title = "Neural Programmer"

    def init_params(self, rng, dtype=np.float32):
        c = self.config
        params = question_init(c["input_size"], c["embed"], c["hidden"], rng, dtype)
        params.update(programmer_init(self._read_size(), c["hidden"], c["embed"],
                                      c["output_size"], rng, dtype))
        return params

    def forward_batch(self, params, batch, train=True, softmax=False):
        """softmax: in training mode, the softmax weights even under the straight-through
        estimator, whose forward pass is one-hot (what the figures and the explorer show)."""
        xp = array_module(params["q_W"])
        q, zs, q_cache = question_forward(params, batch.x, batch.x_mask, keep_cache=train)
        dtype = q.dtype
        states = self._question_states(zs, batch.x_mask)
        B, C = batch.table.shape[0], batch.table.shape[2]
        out, choices, cache = steps_forward(
            params, q, batch.table.astype(dtype), batch.row_mask.astype(dtype),
            batch.greater.astype(dtype), batch.lesser.astype(dtype), self.config["program_steps"],
            hard=not train, states=states, logic=self.config.get("logic", "minmax"),
            noise=self.choice_noise(train, [(B, len(OPS)), (B, C)], xp, dtype),
            straight=self.config.get("selection") == "straight" and not softmax)
        outs = {"scalar": out["scalar"], "lookup": out["lookup"],
                "op": xp.stack([step[0] for step in choices]),
                "col": xp.stack([step[1] for step in choices]),
                "rs_steps": xp.stack([step[2]["rs"] for step in choices]),      # (T, B, rows)
                "scalar_steps": xp.stack([step[2]["scalar"] for step in choices])}  # (T, B)
        if states is not None:                      # (T, B, L): the words each step read
            outs["question_attention"] = xp.stack([step[3] for step in choices])
        return outs, (q_cache, cache)

    def _read_size(self):
        """The size of what the selectors read besides h_t: q, or [q; c^q] with attention."""
        c = self.config
        return c["hidden"] * (2 if c.get("question_attention") == "dot" else 1)

    def _question_states(self, zs, mask):
        """steps_forward's `states`: the question RNN's per-word states (B, L, H) and their mask
        (L, B) as (B, L), with question attention; None without."""
        if self.config.get("question_attention") != "dot":
            return None
        return zs, array_module(zs).asarray(mask).T

    def _choices(self, cache):
        """Every step's soft choices, (α^op_t, α^col_t), from forward_batch's cache (under the
        straight-through estimator, the softmax behind each one-hot: `soft_choice`)."""
        return [(soft_choice(step[2]), soft_choice(step[3])) for step in cache[1][0]]

    def at_step(self, step, seed=0, part=0):
        """The trainer says which step comes next, the run's seed, and which part of the batch
        this process computes (0 unless worker processes share it): the entropy bonus's
        schedule and the Gumbel noise follow them."""
        self.step, self.part = int(step), int(part)
        self.seed = None if seed is None else int(seed)

    def choice_noise(self, train, shapes, xp, dtype):
        """In training (train, and a trainer has called at_step) with `gumbel` σ > 0: for each
        of the T steps, σ·g for every choice's logits, one array per shape in `shapes`, from
        default_rng([seed, 5, step, part]) (so the same step of the same run draws the same
        noise, and a resumed run is exact). Else None: evaluation, and the soft choices that
        figures and the explorer show, are noiseless."""
        sigma = self.config.get("gumbel", 0.0)
        if not train or sigma == 0.0 or self.seed is None:
            return None
        rng = np.random.default_rng([self.seed, 5, self.step, self.part])
        return [tuple(xp.asarray(g) for g in gumbel_noise(rng, sigma, shapes, dtype))
                for _ in range(self.config["program_steps"])]

    def entropy_weight(self):
        """β now: constant, or falling linearly from β at step 0 to 0 at step K = entropy_steps."""
        beta, K = self.config.get("entropy", 0.0), self.config.get("entropy_steps", 0)
        return beta if K == 0 else beta * max(0.0, 1.0 - self.step / K)

    def penalty(self, cache, batch):
        """With `entropy` β > 0: −β·Σ_t (H(α^op_t) + H(α^col_t)) (the pipe: its three choices),
        mean over questions (β as
        `entropy_weight` has it now), and the metric `choice_entropy`, that sum of entropies.
        With β = 0 (the paper), and in evaluation (one-hot choices, whose entropy is 0),
        nothing: 0 and no metric."""
        if self.config.get("entropy", 0.0) == 0.0 or cache[1][0][0][2] is None:   # hardmax
            return 0.0, {}                                     # choices keep no cache
        beta = self.entropy_weight()
        total = sum(entropy_forward(alpha)[0] for step in self._choices(cache) for alpha in step)
        B = total.shape[0]
        return -beta * total.sum() / B, {"choice_entropy": total.sum() / B}

    def _entropy_gradients(self, cache, like):
        """The entropy bonus's gradient with respect to every step's choices (as `_choices` lists
        them), or None when β is 0 now. like: a (B,) array of the batch's dtype."""
        beta = self.entropy_weight()
        if beta == 0.0:
            return None
        dH = array_module(like).full(like.shape, -beta / like.shape[0], dtype=like.dtype)
        return [tuple(entropy_backward(dH, entropy_forward(alpha)[1]) for alpha in step)
                for step in self._choices(cache)]

    def backward(self, douts, cache):
        """Gradients of the task loss (through douts) **plus the entropy bonus's own term**
        (`penalty`), when β > 0: the caller passes the task loss's gradient alone."""
        q_cache, steps_cache = cache
        xp = array_module(douts["scalar"])
        dq, grads = steps_backward({"scalar": douts["scalar"], "lookup": douts["lookup"],
                                    "rs": xp.zeros(douts["lookup"].shape[:2],
                                                   dtype=douts["lookup"].dtype),
                                    "choices": self._entropy_gradients(cache, douts["scalar"])},
                                   steps_cache)
        dq, dstates = dq if isinstance(dq, tuple) else (dq, None)
        grads.update(question_backward(dq, q_cache, dstates))
        return grads
