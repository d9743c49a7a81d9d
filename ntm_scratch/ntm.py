"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv 1410.5401).

One time step, as a cell for the shared BPTT driver (`recurrent.py`):

    controller input    [x_t; r_{t−1}]             (every read vector of the last step)
    controller          h_t = LSTM or tanh layer
    head parameters     z = W_head·h_t + b_head, then per head (docs/MATH.md):
                        k linear, β = softplus, g = σ, s = softmax over 2R+1 shifts,
                        γ = 1 + softplus; write heads also e = σ (erase) and a = tanh (add)
    write               every write head addresses M_{t−1} (5)–(9), then erase (3) and add (4)
    read                every read head addresses M_t (5)–(9) and reads r_t (2)
    output              the cell emits [h_t; r_t]; the model maps it to y_t = W_y·[h_t; r_t] + b_y

State: the controller's ('h', 'c' for an LSTM), the memory 'M' (B, N, M), its rows' norms
'M_norm' (B, N), the reads 'r' (B, Hr, M) and the weightings 'wr' (B, Hr, N) and 'ww' (B, Hw, N).
The norms ‖M(i)‖ of (6) are a function of M, carried with it so that each memory's are computed
once: by the step that writes it, for its read heads and the next step's write heads. Their
gradient travels back with the state like any other and joins M's where they were computed.

Initial state: the memory is a constant 1e-6 (default; Collier & Beel 2018), learned (`M0`), or a
fixed random matrix drawn from `memory_seed`; the weightings are softmax(w_init) of a learned bias,
which starts focused on row 0 (initial_weighting="row0", default) or uniform ("uniform"); the
reads r_init are learned. All are broadcast over the batch, so their gradients are sums.
"""
import numpy as np

from .addressing import address_stages, heads_address_backward, heads_address_forward
from .backend import array_module, to_host
from .lstm import lstm_init, lstm_initial_state, lstm_initial_state_backward
from .lstm import lstm_step_backward, lstm_step_forward
from .memory import read_backward, read_forward, write_backward, write_forward
from .ops import (affine_backward, affine_forward, row_norms_backward, row_norms_forward, sigmoid,
                  softmax_backward, softmax_forward, softplus)
from .recurrent import sequence_backward, sequence_forward, zeros_like_state

MEMORY_CONSTANT = 1e-6
INIT_FOCUS = 10.0   # w_init's logit at row 0: softmax puts ~99% of each head's first weighting there
ADDRESS_KEYS = ("k", "beta", "g", "s", "gamma")


def head_activations_forward(z, M, S, write):
    """Split one group of heads' pre-activations and constrain each part.

    z: (B, H, L) with, per head, [k (M), β, g, s (S), γ] and, for write heads, [e (M), a (M)].
    Returns a dict of the constrained values (k (B, H, M), beta (B, H), ...) and the cache.
    """
    xp = array_module(z)
    # σ of the three scalars' pre-activations at once: g's value, and the derivative of the
    # softplus of β and of γ (softplus' = σ), which the backward pass reads
    sig = sigmoid(z[..., [M, M + 1, M + 2 + S]])                # (B, H, 3)
    p = {"k": z[..., :M],                                        # key: linear
         "beta": softplus(z[..., M]),                            # β = softplus ≥ 0
         "g": sig[..., 1]}                                       # g = σ in (0, 1)
    p["s"], s_cache = softmax_forward(z[..., M + 2:M + 2 + S])   # s: a distribution over shifts
    p["gamma"] = 1.0 + softplus(z[..., M + 2 + S])               # γ = 1 + softplus ≥ 1
    if write:
        p["e"] = sigmoid(z[..., M + 3 + S:2 * M + 3 + S])        # erase in (0, 1)
        p["a"] = xp.tanh(z[..., 2 * M + 3 + S:])                 # add in (−1, 1)
    return p, (sig, p, s_cache, write)


def head_activations_backward(dp, cache):
    """dp: gradients of the constrained values (same keys). Returns dz (B, H, L)."""
    sig, p, s_cache, write = cache
    xp = array_module(sig)
    g = p["g"]
    parts = [dp["k"],
             (dp["beta"] * sig[..., 0])[..., None],              # softplus' = σ
             (dp["g"] * g * (1.0 - g))[..., None],               # σ' = σ(1 − σ)
             softmax_backward(dp["s"], s_cache),
             (dp["gamma"] * sig[..., 2])[..., None]]
    if write:
        parts += [dp["e"] * p["e"] * (1.0 - p["e"]),
                  dp["a"] * (1.0 - p["a"] * p["a"])]
    return xp.concatenate(parts, axis=-1)


class NTMModel:
    """The NTM as a sequence model: forward(params, x (T, B, D)) -> (logits (T, B, O), cache);
    backward(dlogits, cache) -> grads with the keys of params.

    Parameter keys: the controller's (W0, b0, h_init, c_init for an LSTM; W_ff, b_ff for a
    feed-forward one), W_head, b_head, W_y, b_y, w_init (Hr + Hw, N), r_init (Hr, M), and M0
    (N, M) when the memory is learned.
    """

    name = "ntm"
    options = (("hidden", 100, "hidden units: the NTM controller's, or each LSTM layer's"),
               ("controller", "lstm", "controller network", ("lstm", "ff")),
               ("controller_layers", 1, "LSTM controller layers; with more than one, the heads "
                                        "and the output read every layer's h (the NTM paper's "
                                        "priority-sort controller is 2 × 100)"),
               ("memory_rows", 128, "memory locations N"),
               ("memory_width", 20, "memory word size M"),
               ("read_heads", 1, "read heads"),
               ("write_heads", 1, "write heads"),
               ("shift_range", 1, "shifts -R..R the heads can make"),
               ("memory_init", "constant", "initial memory", ("constant", "learned", "random")),
               ("initial_weighting", "row0", "where the heads' learned initial weightings start",
                ("row0", "uniform")))
    train_defaults = {"optimizer": "rmsprop", "lr": 1e-4, "clip_value": 10.0, "batch_size": 1}

    predates = {"controller_layers": 1}    # what checkpoints older than an option were made with

    @staticmethod
    def settle_defaults(config, given):
        """A task's default of several controller layers is for the LSTM
        controller; with `--controller ff` and no --controller-layers, one."""
        if config["controller"] == "ff" and "controller_layers" not in given:
            config["controller_layers"] = 1

    def __init__(self, input_size, output_size, hidden=100, controller="lstm", controller_layers=1,
                 memory_rows=128, memory_width=20, read_heads=1, write_heads=1, shift_range=1,
                 memory_init="constant", memory_seed=0, initial_weighting="row0"):
        if controller not in ("lstm", "ff"):
            raise ValueError(f"controller must be 'lstm' or 'ff', not {controller!r}")
        if controller_layers < 1 or (controller == "ff" and controller_layers != 1):
            raise ValueError("the controller needs at least one layer, and a feed-forward "
                             "controller has exactly one")
        if memory_init not in ("constant", "learned", "random"):
            raise ValueError(f"memory_init must be constant, learned or random, not {memory_init!r}")
        if initial_weighting not in ("row0", "uniform"):
            raise ValueError(f"initial_weighting must be row0 or uniform, not {initial_weighting!r}")
        if read_heads < 1 or write_heads < 1:
            raise ValueError("the NTM needs at least one read head and one write head")
        self.config = {"input_size": int(input_size), "output_size": int(output_size),
                       "hidden": int(hidden), "controller": controller,
                       "controller_layers": int(controller_layers),
                       "memory_rows": int(memory_rows), "memory_width": int(memory_width),
                       "read_heads": int(read_heads), "write_heads": int(write_heads),
                       "shift_range": int(shift_range), "memory_init": memory_init,
                       "memory_seed": int(memory_seed), "initial_weighting": initial_weighting}
        c = self.config
        self.N, self.M, self.H = c["memory_rows"], c["memory_width"], c["hidden"]
        self.Hr, self.Hw, self.S = c["read_heads"], c["write_heads"], 2 * c["shift_range"] + 1
        self.read_len = self.M + 3 + self.S                      # per read head: k β g s γ
        self.write_len = self.read_len + 2 * self.M              # and e, a
        self.lstm = controller == "lstm"
        self.L = c["controller_layers"]
        self.HL = self.H * self.L                                # what the heads and output see

    # ------------------------------------------------------------------------- parameters
    def init_params(self, rng, dtype=np.float32):
        c = self.config
        H, N, M = self.H, self.N, self.M
        d_in = c["input_size"] + self.Hr * M
        if self.lstm:
            params = lstm_init(d_in, H, layers=self.L, rng=rng, dtype=dtype)
        else:
            params = {"W_ff": rng.standard_normal((d_in, H)) / np.sqrt(d_in),
                      "b_ff": np.zeros(H)}
        P = self.Hr * self.read_len + self.Hw * self.write_len
        HL = self.HL
        params["W_head"] = rng.standard_normal((HL, P)) / np.sqrt(HL)
        params["b_head"] = np.zeros(P)
        out_in = HL + self.Hr * M
        params["W_y"] = rng.standard_normal((out_in, c["output_size"])) / np.sqrt(out_in)
        params["b_y"] = np.zeros(c["output_size"])
        params["w_init"] = np.zeros((self.Hr + self.Hw, N))
        if c["initial_weighting"] == "row0":
            params["w_init"][:, 0] = INIT_FOCUS                 # every head starts at row 0
        params["r_init"] = 0.1 * rng.standard_normal((self.Hr, M))
        if c["memory_init"] == "learned":
            params["M0"] = np.full((N, M), MEMORY_CONSTANT)
        return {k: v.astype(dtype) for k, v in params.items()}

    def _memory0(self, params, B):
        xp = array_module(params["W_y"])
        dtype = params["W_y"].dtype
        init = self.config["memory_init"]
        if init == "learned":
            M0 = params["M0"]
        elif init == "random":                                  # fixed by the config's seed
            rng = np.random.default_rng(self.config["memory_seed"])
            M0 = xp.asarray(rng.uniform(-0.1, 0.1, (self.N, self.M)), dtype=dtype)
        else:
            M0 = xp.full((self.N, self.M), MEMORY_CONSTANT, dtype=dtype)
        return xp.broadcast_to(M0, (B, self.N, self.M)).copy()

    def initial_state(self, params, B):
        xp = array_module(params["W_y"])
        w0, w_cache = softmax_forward(params["w_init"])        # (Hr + Hw, N)
        state = lstm_initial_state(params, B) if self.lstm else {}
        state["M"] = self._memory0(params, B)
        state["M_norm"], norm_cache = row_norms_forward(state["M"])
        state["r"] = xp.broadcast_to(params["r_init"], (B, self.Hr, self.M)).copy()
        state["wr"] = xp.broadcast_to(w0[:self.Hr], (B, self.Hr, self.N)).copy()
        state["ww"] = xp.broadcast_to(w0[self.Hr:], (B, self.Hw, self.N)).copy()
        return state, (w_cache, norm_cache)

    def initial_state_backward(self, dstate, cache):
        xp = array_module(dstate["M"])
        w_cache, norm_cache = cache
        grads = lstm_initial_state_backward(dstate) if self.lstm else {}
        if self.config["memory_init"] == "learned":
            dM = dstate["M"] + row_norms_backward(dstate["M_norm"], norm_cache)
            grads["M0"] = dM.sum(axis=0)
        grads["r_init"] = dstate["r"].sum(axis=0)
        dw0 = xp.concatenate([dstate["wr"].sum(axis=0), dstate["ww"].sum(axis=0)])
        grads["w_init"] = softmax_backward(dw0, w_cache)
        return grads

    # ------------------------------------------------------------------------- one step
    def step_forward(self, x, state, params):
        xp = array_module(x)
        B, M = x.shape[0], self.M
        ctrl_in = xp.concatenate([x, state["r"].reshape(B, -1)], axis=1)   # [x_t; r_{t−1}]
        if self.lstm:
            ctrl_state, h, ctrl_cache = lstm_step_forward(
                ctrl_in, {"h": state["h"], "c": state["c"]}, params)
            if self.L > 1:                                   # every layer's h: [h¹_t; h²_t; ...]
                h = xp.concatenate(list(ctrl_state["h"]), axis=1)
        else:
            h = xp.tanh(ctrl_in @ params["W_ff"] + params["b_ff"])
            ctrl_state, ctrl_cache = {}, ctrl_in
        z = h @ params["W_head"] + params["b_head"]                        # head parameters
        split = self.Hr * self.read_len
        rp, r_act = head_activations_forward(z[:, :split].reshape(B, self.Hr, -1), M, self.S, False)
        wp, w_act = head_activations_forward(z[:, split:].reshape(B, self.Hw, -1), M, self.S, True)
        # writes address M_{t−1} (5)–(9), then erase (3) and add (4)
        ww, w_addr = heads_address_forward(state["M"], state["M_norm"],
                                           *(wp[k] for k in ADDRESS_KEYS), state["ww"])
        memory, w_mem = write_forward(state["M"], ww, wp["e"], wp["a"])
        norms, norm_cache = row_norms_forward(memory)                      # ‖M_t(i)‖ for (6)
        # reads address M_t (5)–(9) and read (2)
        wr, r_addr = heads_address_forward(memory, norms, *(rp[k] for k in ADDRESS_KEYS),
                                           state["wr"])
        r, r_mem = read_forward(memory, wr)
        out = xp.concatenate([h, r.reshape(B, -1)], axis=1)               # [h_t; r_t]
        new_state = dict(ctrl_state, M=memory, M_norm=norms, r=r, wr=wr, ww=ww)
        cache = {"params": params, "ctrl": ctrl_cache, "h": h, "D": x.shape[1],
                 "r_act": r_act, "w_act": w_act, "w_addr": w_addr, "w_mem": w_mem,
                 "norm": norm_cache, "r_addr": r_addr, "r_mem": r_mem,
                 "trace": {"read_weights": wr, "write_weights": ww, "erase": wp["e"],
                           "add": wp["a"], "reads": r}}
        return new_state, out, cache

    @staticmethod
    def _detail(cache, memory):
        """What `trace(detail=True)` adds at one step: the memory after the write, and each
        head's addressing, its four stages (w^c, w^g, w̃, w) and the values that set them."""
        out = {"memory": memory}
        for kind, addr, act in (("read", "r_addr", "r_act"), ("write", "w_addr", "w_act")):
            p = cache[act][1]
            out.update({f"{kind}_{k}": v for k, v in address_stages(cache[addr]).items()})
            out.update({f"{kind}_{k}": p[k] for k in ADDRESS_KEYS})
        return out

    def step_backward(self, dout, dstate, cache):
        xp = array_module(dout)
        params, h, D = cache["params"], cache["h"], cache["D"]
        B, H, M = dout.shape[0], self.HL, self.M
        dh = dout[:, :H]
        dr = dout[:, H:].reshape(B, self.Hr, M) + dstate["r"]           # r_t: the output and t+1
        # back through the read (2) and the read heads' addressing of M_t
        dmemory, dwr = read_backward(dr, cache["r_mem"])
        ga = heads_address_backward(dwr + dstate["wr"], cache["r_addr"])
        dmemory += dstate["M"]                                           # M_t: read, addressed, t+1
        dmemory += ga["memory"]
        dnorms = ga["memory_norms"] + dstate["M_norm"]                   # ‖M_t(i)‖: here and t+1
        dmemory += row_norms_backward(dnorms, cache["norm"])
        dz_read = head_activations_backward(ga, cache["r_act"])
        # back through the write (3, 4) and the write heads' addressing of M_{t−1}
        dmemory_prev, dww, de, da = write_backward(dmemory, cache["w_mem"])
        gw = heads_address_backward(dww + dstate["ww"], cache["w_addr"])
        dmemory_prev += gw["memory"]
        dz_write = head_activations_backward(dict(gw, e=de, a=da), cache["w_act"])
        # back through the head layer into the controller
        dz = xp.concatenate([dz_read.reshape(B, -1), dz_write.reshape(B, -1)], axis=1)
        grads = {"W_head": h.T @ dz, "b_head": dz.sum(axis=0)}
        dh = dh + dz @ params["W_head"].T
        if self.lstm:
            dstate_h = dstate["h"]
            if self.L > 1:       # a lower layer's h_t feeds the heads and output as well as t+1
                per_layer = dh.reshape(B, self.L, self.H).transpose(1, 0, 2)
                dstate_h = dstate_h + per_layer
                dstate_h[-1] = dstate["h"][-1]                          # the top's comes as dy
                dh = per_layer[-1]
            dctrl_in, dctrl_state, gc = lstm_step_backward(
                dh, {"h": dstate_h, "c": dstate["c"]}, cache["ctrl"])
            grads.update(gc)
        else:
            ctrl_in = cache["ctrl"]
            dpre = dh * (1.0 - h * h)                                    # back through tanh
            grads["W_ff"], grads["b_ff"] = ctrl_in.T @ dpre, dpre.sum(axis=0)
            dctrl_in, dctrl_state = dpre @ params["W_ff"].T, {}
        dprev = dict(dctrl_state, M=dmemory_prev, M_norm=gw["memory_norms"],
                     r=dctrl_in[:, D:].reshape(B, self.Hr, M), wr=ga["w_prev"], ww=gw["w_prev"])
        return dctrl_in[:, :D], dprev, grads

    # ------------------------------------------------------------------------- the sequence
    def forward(self, params, x, keep_cache=True):
        state0, state0_cache = self.initial_state(params, x.shape[1])
        outs, final, caches = sequence_forward(self.step_forward, x, state0, params, keep_cache)
        logits, out_cache = affine_forward(outs, params["W_y"], params["b_y"])
        return logits, (caches, final, state0_cache, out_cache)

    def forward_batch(self, params, batch, train=True):
        """What the training loop calls: logits for batch.x (cached only when training)."""
        return self.forward(params, batch.x, keep_cache=train)

    def backward(self, dlogits, cache):
        caches, final, state0_cache, out_cache = cache
        dout, dW_y, db_y = affine_backward(dlogits, out_cache)
        _, dstate0, grads = sequence_backward(self.step_backward, dout,
                                              zeros_like_state(final), caches)
        grads.update(self.initial_state_backward(dstate0, state0_cache))
        grads["W_y"], grads["b_y"] = dW_y, db_y
        return grads

    def trace(self, params, x, detail=False):
        """Run one batch and return, as host arrays over time, what the heads did (for figures):
        logits (T, B, O); read_weights (T, B, Hr, N), write_weights (T, B, Hw, N); erase and add
        (T, B, Hw, M); reads (T, B, Hr, M). With `detail` (the explorer) also memory (T, B, N,
        M) after each step's write, and for KIND read and write: KIND_wc, KIND_wg, KIND_w_tilde
        (T, B, H, N), KIND_k (T, B, H, M), KIND_beta, KIND_g, KIND_gamma (T, B, H), KIND_s
        (T, B, H, 2R+1)."""
        logits, (caches, *_) = self.forward(params, x)
        steps = [dict(c["trace"]) for c in caches]
        if detail:
            for step, c in zip(steps, caches):
                step.update(self._detail(c, c["r_mem"][0]))      # r_mem: (M_t, w^r)
        out = {k: np.stack([to_host(st[k]) for st in steps]) for k in steps[0]}
        out["logits"] = to_host(logits)
        return out
