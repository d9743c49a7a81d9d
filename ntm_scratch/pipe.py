"""The Neural Programmer's simpler variant from the Distill article ("a unix pipe"): at every
step the controller picks an operation and its two operands among the question's numbers and the
outputs of the earlier steps, all by soft selection, and is trained on the last step's value
alone (docs/MATH.md, "The Neural Programmer", the pipe; the `arithmetic` task).

The question is read by the same RNN as the table model's (programmer.question_forward), with
its numbers taken out: it sees the words (here the operators and a placeholder for each number),
and the numbers arrive as the values v_1..v_N. At step t = 1..T:

    h_t    = tanh(W_hist·[c_t; h_{t-1}] + b_hist)            (c_1 = 0, h_0 = 0)
    α^op_t = softmax(U·tanh(W_op·[q; h_t]))                  over PIPE_OPS
    α^a_t  = softmax(E_a·tanh(W_a·[q; h_t]))                 over the slots open at step t:
    α^b_t  = softmax(E_b·tanh(W_b·[q; h_t]))                 the numbers, then o_1..o_{t-1}
    a_t    = Σ_i α^a_t(i)·v_i       b_t = Σ_i α^b_t(i)·v_i   (v_{N+s} = o_s)
    o_t    = α(add)·(a + b) + α(subtract)·(a − b) + α(multiply)·a·b + α(first)·a
    c_{t+1} = [α^op_tᵀ·U; α^a_tᵀ·E_a; α^b_tᵀ·E_b]

With `question_attention="dot"` the three selectors read [q; c^q_t; h_t], where c^q_t is the words
h_t attends to (programmer.question_attention_forward).
With `entropy` β > 0 the loss also subtracts β·Σ_t (H(α^op_t) + H(α^a_t) + H(α^b_t)), the
table model's entropy bonus (programmer.ProgrammerModel.penalty) on the pipe's three choices;
with `gumbel` σ > 0 training adds Gumbel noise to their logits (ProgrammerModel.choice_noise);
with `selection="straight"` training's choices are one-hot, with the softmax's gradient
(programmer.selector_forward); with `selection="sample"` training draws K programs for each
question and makes those whose answer is right likelier (PipeModel; docs/MATH.md, "Sampled
programs").

The answer is o_T; `first` passes a value on, so a short expression finishes early and carries
its result to step T. In evaluation every softmax is a hardmax, so the program is discrete and
its answer exact.
"""
import numpy as np

from .backend import array_module
from .programmer import (SELECTION, ProgrammerModel, gumbel_noise, question_backward,
                         question_forward, question_init,
                         question_read_backward, question_read_forward, selector_backward,
                         selector_forward, soft_choice)

PIPE_OPS = ("add", "subtract", "multiply", "first")


def pipe_init(q_size, hidden, embed, slots, rng, dtype):
    """The steps' parameters: the history RNN (W_hist, b_hist) and the selectors of the
    operation (W_op, U) and of the two operands (W_a, E_a; W_b, E_b), E_* one row per slot."""
    def dense(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(dtype)
    return {"W_hist": dense(3 * embed + hidden, hidden), "b_hist": np.zeros(hidden, dtype=dtype),
            "W_op": dense(q_size + hidden, embed), "U": dense(embed, len(PIPE_OPS)).T.copy(),
            "W_a": dense(q_size + hidden, embed), "E_a": dense(embed, slots).T.copy(),
            "W_b": dense(q_size + hidden, embed), "E_b": dense(embed, slots).T.copy()}


def pipe_steps_forward(params, q, values, value_mask, T, hard=False, states=None, noise=None,
                       straight=False, sample=False):
    """T steps of the pipe. q: (B, Dq); values: (B, N) the question's numbers, value_mask: (B, N)
    boolean (an expression may have fewer than N). hard: hardmax (evaluation; no backward).
    states: None, or the question RNN's states after each word and their mask, (Z (B, L, Dq),
    (B, L)): the selectors then read [q; c^q_t; h_t], c^q_t the words h_t attends to
    (programmer.question_attention_forward). noise: None, or one (operation, a, b) triple of
    arrays per step added to the selectors' logits (training's Gumbel noise; the operand
    arrays are (B, S), S = N + T − 1 slots). straight: every choice a one-hot, trained by the
    straight-through estimator (programmer.selector_forward). sample: every choice a one-hot
    drawn from its softmax with `noise` (Gumbel(0, 1)): the program is a sample, and its
    one-hots are constants to the backward (pipe_steps_backward).
    Returns o_T (B,), every step's (α^op, α^a, α^b, o_t) (the program and what it made; with
    states, the attention β as a fifth) and the cache."""
    xp = array_module(q)
    B, N = values.shape
    S, H = params["E_a"].shape[0], params["b_hist"].shape[0]
    v = xp.concatenate([values, xp.zeros((B, S - N), dtype=values.dtype)], axis=1)   # (B, S)
    open_ = xp.concatenate([value_mask, xp.zeros((B, S - N), dtype=bool)], axis=1)
    h = xp.zeros((B, H), dtype=q.dtype)
    c = xp.zeros((B, 3 * params["U"].shape[1]), dtype=q.dtype)
    caches, program = [], []
    for t in range(T):
        ch = xp.concatenate([c, h], axis=1)
        h = xp.tanh(ch @ params["W_hist"] + params["b_hist"])
        read, beta, att_cache = question_read_forward(q, h, states)
        g_op, g_a, g_b = (None, None, None) if noise is None else noise[t]
        a_op, op_cache = selector_forward(read, h, params["W_op"], params["U"], hard=hard,
                                          noise=g_op, straight=straight, sample=sample)
        a_a, a_cache = selector_forward(read, h, params["W_a"], params["E_a"], open_, hard, g_a,
                                        straight, sample)
        a_b, b_cache = selector_forward(read, h, params["W_b"], params["E_b"], open_, hard, g_b,
                                        straight, sample)
        vt = v.copy()                                          # the values step t reads
        a, b = (a_a * vt).sum(axis=1), (a_b * vt).sum(axis=1)
        add, sub, mul, first = (a_op[:, k] for k in range(len(PIPE_OPS)))
        o = add * (a + b) + sub * (a - b) + mul * a * b + first * a
        caches.append((ch, h, op_cache, a_cache, b_cache, a_op, a_a, a_b, vt, a, b, att_cache))
        program.append((a_op, a_a, a_b, o) if states is None else (a_op, a_a, a_b, o, beta))
        c = xp.concatenate([a_op @ params["U"], a_a @ params["E_a"], a_b @ params["E_b"]], axis=1)
        if N + t < S:                                          # o_t becomes slot N + t
            v[:, N + t] = o
            open_[:, N + t] = True
    return o, program, (caches, params, N, sample)


def pipe_steps_backward(do, cache, dchoices=None):
    """do: (B,) the gradient of o_T; dchoices: None or one (dα^op_t, dα^a_t, dα^b_t) per step (a
    loss term on the choices themselves: the entropy bonus, a sampled program's
    log-probability). Returns dq, dvalues (B, N) and the parameters' gradients; with question
    attention (pipe_steps_forward's states), dq is the pair (dq, dZ). For a sampled program
    (pipe_steps_forward's `sample`) the one-hots are constants: neither o_t nor the history
    c_{t+1} passes a gradient to the softmax behind them, so only dchoices reach it."""
    caches, params, N, sampled = cache
    xp = array_module(do)
    B, E = do.shape[0], params["U"].shape[1]
    grads = {k: xp.zeros_like(v) for k, v in params.items()}
    S = params["E_a"].shape[0]
    dv = xp.zeros((B, S), dtype=do.dtype)          # into every slot, from the steps that read it
    dc = xp.zeros((B, 3 * E), dtype=do.dtype)
    dh_next, dq, dstates = None, 0.0, 0.0
    for t in range(len(caches) - 1, -1, -1):
        ch, h, op_cache, a_cache, b_cache, a_op, a_a, a_b, vt, a, b, att_cache = caches[t]
        d_o = (do if t == len(caches) - 1 else 0.0) + (dv[:, N + t] if N + t < S else 0.0)
        # c_{t+1} = [α^opᵀ U; α^aᵀ E_a; α^bᵀ E_b] fed step t + 1
        da_op, da_a, da_b = xp.zeros_like(a_op), xp.zeros_like(a_a), xp.zeros_like(a_b)
        if not sampled:
            da_op = dc[:, :E] @ params["U"].T
            da_a = dc[:, E:2 * E] @ params["E_a"].T
            da_b = dc[:, 2 * E:] @ params["E_b"].T
        if dchoices is not None:
            da_op, da_a, da_b = (da_op + dchoices[t][0], da_a + dchoices[t][1],
                                 da_b + dchoices[t][2])
        grads["U"] += a_op.T @ dc[:, :E]
        grads["E_a"] += a_a.T @ dc[:, E:2 * E]
        grads["E_b"] += a_b.T @ dc[:, 2 * E:]
        # o = α(add)(a + b) + α(sub)(a − b) + α(mul)·a·b + α(first)·a
        add, sub, mul, first = (a_op[:, k] for k in range(len(PIPE_OPS)))
        d_a = d_o * (add + sub + mul * b + first)
        d_b = d_o * (add - sub + mul * a)
        if not sampled:
            da_op = da_op + xp.stack([d_o * (a + b), d_o * (a - b), d_o * a * b, d_o * a],
                                     axis=1)
            # a = Σ α^a v, b = Σ α^b v: into the weights and into the values read
            da_a = da_a + d_a[:, None] * vt
            da_b = da_b + d_b[:, None] * vt
        dv = dv + d_a[:, None] * a_a + d_b[:, None] * a_b
        dh, dread = (0.0 if dh_next is None else dh_next), 0.0
        for dalpha, sel_cache, W, Emb in ((da_op, op_cache, "W_op", "U"),
                                          (da_a, a_cache, "W_a", "E_a"),
                                          (da_b, b_cache, "W_b", "E_b")):
            dq_s, dh_s, dW, dE = selector_backward(dalpha, sel_cache)
            grads[W] += dW
            grads[Emb] += dE
            dread, dh = dread + dq_s, dh + dh_s
        dq_t, dh_att, dZ = question_read_backward(dread, att_cache)
        dq, dh, dstates = dq + dq_t, dh + dh_att, dstates + dZ
        dz = dh * (1.0 - h * h)                            # h_t = tanh(W_hist·[c; h] + b)
        grads["W_hist"] += ch.T @ dz
        grads["b_hist"] += dz.sum(axis=0)
        dch = dz @ params["W_hist"].T
        dc, dh_next = dch[:, :3 * E], dch[:, 3 * E:]
    return (dq if caches[0][-1] is None else (dq, dstates)), dv[:, :N], grads


def _soft_steps(steps_cache):
    """Every step's softmax behind its choices, (α^op_t, α^a_t, α^b_t), from
    pipe_steps_forward's cache (the choices themselves when soft)."""
    return [tuple(soft_choice(step[k]) for k in (2, 3, 4)) for step in steps_cache[0]]


class PipeModel(ProgrammerModel):
    """The pipe over an arithmetic expression: the question RNN, then T steps (above). Its
    sizes and options are the table model's (ProgrammerModel), with T = 3.

    forward_batch(params, batch, train) -> ({'value': (B,) o_T, 'op', 'a', 'b': (T, B, K) the
    program}, cache); backward(douts, cache) takes the gradient of 'value'. The batch brings the
    words (words: (L, B), words_mask) and the numbers (values (B, N), value_mask).
    Parameter keys: q_embed, q_W, q_b; W_hist, b_hist; W_op, U; W_a, E_a; W_b, E_b.

    With `selection="sample"`, training draws `samples` = K discrete programs for every
    question instead of running the soft one (each choice a draw from its softmax, the
    Gumbel-max trick): 'value' is then (B·K,), question b's draws in rows b·K to b·K + K − 1,
    and 'log_p' (B·K,) is each draw's log-probability, Σ_t log α^op_t + log α^a_t + log α^b_t
    at the choices drawn. backward takes the gradient of 'log_p' (the task's loss rewards the
    draws that hit the answer: tasks/arithmetic.py); a drawn program passes no gradient through
    its values. Evaluation is the hardmax program, as always.
    """

    name = "pipe"
    title = "Neural Programmer (pipe)"
    options = tuple(
        ("program_steps", 3, "T, the steps of the program") if o[0] == "program_steps" else
        ("selection", "soft", o[2] + "; or sample (the pipe only: K programs drawn from the "
         "softmax for every question, trained to make those that hit the answer likelier, "
         "maximum marginal likelihood)", (*SELECTION, "sample")) if o[0] == "selection" else o
        for o in ProgrammerModel.options if o[0] != "logic") + (
        ("samples", 64, "K: with --selection sample, the programs drawn for every question"),)
    train_defaults = {"optimizer": "adam", "lr": 3e-3, "clip_norm": 10.0, "batch_size": 64}
    predates = {**ProgrammerModel.predates, "samples": 64}

    def __init__(self, input_size, output_size, hidden=64, embed=32, program_steps=None,
                 question_attention="none", entropy=0.0, entropy_steps=0, gumbel=0.0,
                 selection="soft", samples=64):
        sample = selection == "sample"
        super().__init__(input_size, output_size, hidden, embed, program_steps,
                         question_attention, entropy=entropy, entropy_steps=entropy_steps,
                         gumbel=gumbel, selection="soft" if sample else selection)
        if sample:
            if int(samples) < 1:
                raise ValueError("samples must be at least 1")
            if float(gumbel) > 0.0:
                raise ValueError("selection sample draws its programs with Gumbel noise of "
                                 "scale 1 already: leave gumbel at 0")
            self.config.update(selection="sample", samples=int(samples))
        elif int(samples) != self.predates["samples"]:
            raise ValueError("samples applies with selection sample only")
        if self.config["program_steps"] < output_size - 1:
            raise ValueError(f"{output_size} numbers take {output_size - 1} operations: "
                             f"--program-steps must be at least {output_size - 1}")

    def init_params(self, rng, dtype=np.float32):
        """input_size: the words; output_size: N, the most numbers in a question."""
        c = self.config
        params = question_init(c["input_size"], c["embed"], c["hidden"], rng, dtype)
        params.update(pipe_init(self._read_size(), c["hidden"], c["embed"],
                                c["output_size"] + c["program_steps"] - 1, rng, dtype))
        return params

    def forward_batch(self, params, batch, train=True, softmax=False):
        """softmax: as ProgrammerModel.forward_batch."""
        xp = array_module(params["q_W"])
        q, zs, q_cache = question_forward(params, batch.words, batch.words_mask,
                                          keep_cache=train)
        states = self._question_states(zs, batch.words_mask)
        T, S = self.config["program_steps"], params["E_a"].shape[0]
        values, mask = xp.asarray(batch.values, dtype=q.dtype), xp.asarray(batch.value_mask)
        sample = train and not softmax and self.config.get("selection") == "sample"
        K = self.config["samples"] if sample else 1
        if sample:                                  # K rows for each question, one per draw
            q, values, mask = (xp.repeat(v, K, axis=0) for v in (q, values, mask))
            if states is not None:
                states = tuple(xp.repeat(v, K, axis=0) for v in states)
        B = values.shape[0]
        shapes = [(B, params["U"].shape[0]), (B, S), (B, S)]
        o, program, cache = pipe_steps_forward(
            params, q, values, mask, T, hard=not train, states=states,
            noise=(self._draws(shapes, xp, q.dtype) if sample
                   else self.choice_noise(train, shapes, xp, q.dtype)),
            straight=self.config.get("selection") == "straight" and not softmax, sample=sample)
        outs = {"value": o, **{k: xp.stack([p[i] for p in program])
                               for i, k in enumerate(("op", "a", "b", "value_steps"))}}
        if states is not None:                      # (T, B, L): the words each step read
            outs["question_attention"] = xp.stack([p[4] for p in program])
        if sample:
            tiny = xp.finfo(q.dtype).tiny
            outs["log_p"] = sum(xp.log(xp.maximum((drawn * soft).sum(axis=1), tiny))
                                for step, soft_step in zip(program, _soft_steps(cache))
                                for drawn, soft in zip(step[:3], soft_step))
        return outs, (q_cache, cache, K)

    def _draws(self, shapes, xp, dtype):
        """Training's Gumbel(0, 1) noise for sampled programs, one (operation, a, b) triple per
        step, from default_rng([seed, 5, step, part]) as `choice_noise` (seed 0 before a
        trainer's at_step)."""
        rng = np.random.default_rng([self.seed or 0, 5, self.step, self.part])
        return [tuple(xp.asarray(g) for g in gumbel_noise(rng, 1.0, shapes, dtype))
                for _ in range(self.config["program_steps"])]

    def _choices(self, cache):
        """Every step's soft choices, (α^op_t, α^a_t, α^b_t), from forward_batch's cache (under
        the straight-through estimator, the softmax behind each one-hot)."""
        return _soft_steps(cache[1])

    def backward(self, douts, cache):
        """Gradients of the loss through douts['value'], plus the entropy bonus's own term when
        β > 0 (`penalty`). For drawn programs, through douts['log_p'] (each draw's
        log-probability: dα = dlog p·onehot/α at the draws); their 'value' reaches no
        parameter."""
        q_cache, steps_cache, K = cache
        dchoices = self._entropy_gradients(cache, douts["value"])
        if "log_p" in douts:              # log p = Σ log α at the draws: dα = dlog p·onehot/α
            xp = array_module(douts["log_p"])
            tiny = xp.finfo(douts["log_p"].dtype).tiny
            dlogp = [tuple(douts["log_p"][:, None] * drawn / xp.maximum(soft, tiny)
                           for drawn, soft in zip(step_cache[5:8], soft_step))
                     for step_cache, soft_step in zip(steps_cache[0], self._choices(cache))]
            dchoices = dlogp if dchoices is None else [
                tuple(x + y for x, y in zip(a, b)) for a, b in zip(dlogp, dchoices)]
        dq, _, grads = pipe_steps_backward(douts["value"], steps_cache, dchoices)
        dq, dstates = dq if isinstance(dq, tuple) else (dq, None)
        if K > 1:                         # the K draws of a question read the same question
            dq = dq.reshape(-1, K, dq.shape[1]).sum(axis=1)
            if dstates is not None:
                dstates = dstates.reshape(-1, K, *dstates.shape[1:]).sum(axis=1)
        grads.update(question_backward(dq, q_cache, dstates))
        return grads
