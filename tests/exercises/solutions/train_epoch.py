"""Solution of the train_epoch exercise."""

from tinymin.nn import functional as F


def train_epoch(model, optimizer, loader, loss_fn=F.cross_entropy, progress=True, desc="train"):
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)
        correct += int((logits.data.argmax(axis=1) == y.data).sum())
        seen += len(y)
    return {"loss": total_loss / seen, "accuracy": correct / seen}
