"""Shared test settings: the `gpu` marker skips itself where CuPy or a GPU is missing."""
import pytest


def _gpu_reason():
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no GPU is visible"
    except Exception as exc:  # no driver
        return f"CuPy cannot reach a GPU ({exc.__class__.__name__})"
    return None


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    reason = _gpu_reason() if gpu_items else None
    if reason:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


class FrozenChoices:
    """The straight-through estimator's gradient as the exact gradient of a surrogate, for the
    finite-difference checks. Installed in place of a module's `selector_forward`, it first
    records, on one forward pass, each choice's one-hot H0 and the softmax S0 behind it; then
    (`replay`) every selector returns H0 + softmax(logits) − S0 in call order. At the recorded
    parameters that is the one-hot itself, and its derivative is the softmax's: what the
    straight-through backward claims. Moving a parameter never flips a recorded choice."""

    def __init__(self, monkeypatch, module):
        from ntm_scratch.programmer import soft_choice
        self.original, self.soft_choice = module.selector_forward, soft_choice
        self.recorded, self.replaying, self.i = [], False, 0
        monkeypatch.setattr(module, "selector_forward", self)

    def replay(self):
        """From now on, every forward pass replays the recorded choices from the first."""
        self.replaying, self.i = True, 0

    def __call__(self, q, h, W, E, mask=None, hard=False, noise=None, straight=False,
                 sample=False):
        assert not hard and straight and not sample, \
            "FrozenChoices is for straight-through training passes"
        if not self.replaying:
            alpha, cache = self.original(q, h, W, E, mask, hard, noise, straight)
            self.recorded.append((alpha, self.soft_choice(cache)))
            return alpha, cache
        alpha, cache = self.original(q, h, W, E, mask, hard, noise, False)
        H0, S0 = self.recorded[self.i % len(self.recorded)]
        self.i += 1
        return H0 + alpha - S0, cache

    def check(self, run, model, params, first):
        """The model's backward of the recorded pass (`first`, what run() returned then) against
        central differences of the surrogate, below docs/MATH.md's 1e-5; the gradient must not
        be flat, and the surrogate must equal the recorded loss."""
        from ntm_scratch.gradcheck import check_loss
        loss, _, douts, cache = first
        grads = model.backward(douts, cache)
        assert min(abs(grads[k]).max() for k in ("U", "W_op", "q_W")) > 1e-3   # not flat
        self.replay()
        assert run()[0] == loss
        errors = check_loss(lambda: run()[0], params, grads)
        assert max(errors.values()) < 1e-5, errors


def training_loss(model, task, params, batch):
    """run() -> (loss, outs, douts, cache): one training pass as the trainer computes it, the
    model's penalty included."""
    from ntm_scratch.parallel import add_penalty

    def run():
        outs, cache = model.forward_batch(params, batch, train=True)
        loss, douts, metrics = task.loss(outs, batch)
        return float(add_penalty(model, cache, batch, loss, metrics)), outs, douts, cache
    return run
