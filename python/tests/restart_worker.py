"""Helper process for test_checkpoint_survives_a_process_restart: trains and
saves, or loads and continues, exactly as a restarted job would."""

import sys

import torch

from gradient_stabilizer import GSWrapper


def make():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 3))
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="compiled")
    return net, opt


def train(net, opt, first, last):
    gen = torch.Generator().manual_seed(7)
    for step in range(last):
        x, y = torch.randn(16, 6, generator=gen), torch.randn(16, 3, generator=gen)
        if step < first:
            continue
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()


if __name__ == "__main__":
    mode, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    net, opt = make()
    if mode == "save":
        train(net, opt, 0, steps)
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, path)
    else:
        ckpt = torch.load(path)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        train(net, opt, steps, 2 * steps)
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, sys.argv[4])
