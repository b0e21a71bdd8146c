"""A PyTorch program in the style of the official MNIST example, run twice: as written
for PyTorch, and with only its import lines changed to tinymin's.

The program (``PROGRAM`` below) is the example's network, training loop and test
loop, on a small slice of the embedded MNIST so the test takes seconds. Its data comes
as batches of ``torch.tensor`` made by the program itself (the example's
``torch.utils.data.DataLoader`` and ``torchvision.datasets`` are issue #20's items 2
and 3, checked in their own tests). Both runs must train: the loss falls and the test
accuracy is far above chance, and the two accuracies agree within the noise of
different random initial weights.
"""

import numpy as np
import pytest

from tinymin.data.datasets import EmbeddedMNIST

torch = pytest.importorskip("torch", reason="the oracle tests compare with PyTorch (pip install torch)")

TORCH_IMPORTS = """
import torch
from torch import nn, optim
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR
"""

TINYMIN_IMPORTS = """
import tinymin as torch
from tinymin import nn, optim
import tinymin.nn.functional as F
from tinymin.optim.lr_scheduler import StepLR
"""

PROGRAM = """
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def batches(images, labels, batch_size, device):
    for i in range(0, len(images), batch_size):
        data = (torch.tensor(images[i:i + batch_size]) - 0.1307) / 0.3081
        yield data.to(device), torch.tensor(labels[i:i + batch_size]).long().to(device)


def train(model, device, train_loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    seen = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target).item() * target.size(0)
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            seen += target.size(0)
    return test_loss / seen, correct / seen


def main(train_images, train_labels, test_images, test_labels, epochs=2):
    use_cuda = torch.cuda.is_available()
    use_mps = torch.backends.mps.is_available()
    torch.manual_seed(1)
    if use_cuda:
        device = torch.device("cuda")
    elif use_mps:
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    model = Net().to(device)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    for epoch in range(1, epochs + 1):
        train(model, device, list(batches(train_images, train_labels, 32, device)), optimizer,
              epoch, losses)
        scheduler.step()
    return losses, test(model, device, list(batches(test_images, test_labels, 100, device)))
"""


def run(imports: str, data: tuple):
    namespace: dict = {}
    exec(compile(imports + PROGRAM, "<mnist example>", "exec"), namespace)  # noqa: S102
    return namespace["main"](*data)


def test_the_mnist_example_trains_with_only_the_imports_changed():
    train, test = EmbeddedMNIST(train=True), EmbeddedMNIST(train=False)
    train_x, train_y = train.arrays()
    test_x, test_y = test.arrays()
    data = (train_x[:192], train_y[:192], test_x[:200], test_y[:200])  # ~10 s on one core
    losses, (test_loss, accuracy) = run(TINYMIN_IMPORTS, data)
    torch_losses, (torch_test_loss, torch_accuracy) = run(TORCH_IMPORTS, data)
    for run_losses, run_accuracy in [(losses, accuracy), (torch_losses, torch_accuracy)]:
        assert np.mean(run_losses[-3:]) < 0.8 * np.mean(run_losses[:3])  # it learns ...
        assert run_accuracy > 0.3  # ... well above chance (0.1) after 12 steps
    assert abs(accuracy - torch_accuracy) < 0.2, (accuracy, torch_accuracy)
    assert abs(test_loss - torch_test_loss) < 0.5, (test_loss, torch_test_loss)
