"""Losses, each a forward/backward pair that reduces to a scalar by summing.

`loss, cache = f_forward(...)` sums over every element the mask lets through; the caller
divides by the batch size if it wants a mean, and passes that factor back as `dloss`.
`f_backward(dloss, cache)` takes the scalar upstream gradient and returns the gradient of the
prediction (and of a real-valued target, where the loss has one).
"""
from .backend import array_module
from .ops import sigmoid


def _mask_like(mask, x):
    xp = array_module(x)
    if mask is None:
        return None
    return xp.broadcast_to(xp.asarray(mask, dtype=x.dtype), x.shape)


def sigmoid_cross_entropy_forward(logits, targets, mask=None):
    """Σ −[t·log σ(x) + (1 − t)·log(1 − σ(x))], in nats, computed from the logits x.

    Written as max(x, 0) − x·t + log(1 + e^{−|x|}): finite for any x.
    logits, targets: same shape; mask: broadcastable, 1 where the element counts.
    """
    xp = array_module(logits)
    ce = xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))
    m = _mask_like(mask, logits)
    if m is not None:
        ce = ce * m
    return ce.sum(), (logits, targets, m)


def sigmoid_cross_entropy_backward(dloss, cache):
    """Returns dlogits = dloss·(σ(x) − t) and dtargets = −dloss·x (both masked)."""
    logits, targets, m = cache
    dlogits = dloss * (sigmoid(logits) - targets)
    dtargets = -dloss * logits
    if m is not None:
        dlogits, dtargets = dlogits * m, dtargets * m
    return dlogits, dtargets


def softmax_cross_entropy_forward(logits, labels, mask=None):
    """Σ −log softmax(x)[label] over positions; logits (..., C), labels integer (...).

    mask: (...) 1 where the position counts. Uses log-sum-exp with max subtraction.
    """
    xp = array_module(logits)
    labels = xp.asarray(labels)
    z = logits - logits.max(axis=-1, keepdims=True)
    logsumexp = xp.log(xp.exp(z).sum(axis=-1))
    picked = xp.take_along_axis(z, labels[..., None].astype(xp.int64), axis=-1)[..., 0]
    nll = logsumexp - picked
    m = None if mask is None else xp.broadcast_to(xp.asarray(mask, dtype=logits.dtype), nll.shape)
    if m is not None:
        nll = nll * m
    probs = xp.exp(z - logsumexp[..., None])
    return nll.sum(), (probs, labels, m)


def softmax_cross_entropy_backward(dloss, cache):
    """Returns dlogits = dloss·(softmax(x) − onehot(label)) (masked). Labels get no gradient."""
    probs, labels, m = cache
    xp = array_module(probs)
    onehot = (labels[..., None] == xp.arange(probs.shape[-1])).astype(probs.dtype)
    dlogits = dloss * (probs - onehot)
    if m is not None:
        dlogits = dlogits * m[..., None]
    return dlogits


def huber_forward(pred, target, delta=1.0, mask=None):
    """Σ Huber_δ(pred − target): ½a² where |a| ≤ δ, δ(|a| − ½δ) beyond (the Neural Programmer's
    loss on scalar answers)."""
    xp = array_module(pred)
    a = pred - target
    absa = xp.abs(a)
    h = xp.where(absa <= delta, 0.5 * a * a, delta * (absa - 0.5 * delta))
    m = _mask_like(mask, pred)
    if m is not None:
        h = h * m
    return h.sum(), (a, delta, m)


def huber_backward(dloss, cache):
    """Returns dpred = dloss·clip(a, −δ, δ) and dtarget = −dpred."""
    a, delta, m = cache
    xp = array_module(a)
    dpred = dloss * xp.clip(a, -delta, delta)
    if m is not None:
        dpred = dpred * m
    return dpred, -dpred
