# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 1 — Tensors and the computational graph
#
# Every number a network computes is a `Tensor`. When a tensor that *requires a gradient*
# takes part in an operation, minitransfer records a node of the **computational graph**:
# which op made the result, and from which inputs. `loss.backward()` then walks that graph
# from the loss back to the inputs and applies the **chain rule** at every node.
#
# This is the engine behind every later lesson: the document's training objective
# (§3.3) is minimised by gradient descent, and gradient descent needs $\nabla_\theta L$.
#
# Run it: `python lessons/01_tensors_and_graph.py` (figures go to `figures/01/`).

# %%
import inspect
import shutil
import subprocess

from _lesson import QUICK, figures, plt

import minitransfer as mt
from minitransfer import autograd

FIGURES, save = figures("01")


# %% [markdown]
# ## 1. The chain rule by hand
#
# Take $x = 3$, $y = -2$ and
#
# $$z = (xy + x)^2 .$$
#
# Name the intermediate results: $u = xy$ (op `functions.Mul`), $v = u + x$
# (`functions.Add`), $z = v^2$ (`functions.Pow`). The chain rule multiplies local
# derivatives along each path from $z$ back to a leaf, and **adds** the paths:
#
# $$\frac{\partial z}{\partial v} = 2v, \qquad
#   \frac{\partial z}{\partial x} = \frac{\partial z}{\partial v}\Big(
#   \underbrace{\frac{\partial v}{\partial u}\frac{\partial u}{\partial x}}_{\text{path through } u = xy}
#   + \underbrace{\frac{\partial v}{\partial x}}_{\text{direct path}}\Big) = 2v\,(y + 1), \qquad
#   \frac{\partial z}{\partial y} = 2v\,x .$$
#
# With $v = 3 \cdot (-2) + 3 = -3$: $z = 9$, $\partial z/\partial x = 2(-3)(-1) = 6$,
# $\partial z/\partial y = 2(-3)(3) = -18$.

# %%
x_val, y_val = 3.0, -2.0
v_val = x_val * y_val + x_val
by_hand = {"z": v_val**2, "dz/dv": 2 * v_val, "dz/dx": 2 * v_val * (y_val + 1), "dz/dy": 2 * v_val * x_val}
print("by hand:   ", by_hand)

# %% [markdown]
# ## 2. The same with `backward()`
#
# `Tensor.backward()` computes $\partial z/\partial \text{leaf}$ for every leaf with
# `requires_grad=True` and stores it in `.grad`. Intermediate tensors keep no gradient unless
# we ask with `retain_grad()` (as in PyTorch). Each op class in `minitransfer/functions/`
# states its vector–Jacobian product in its docstring, e.g. `Mul`:
# $\partial L/\partial a = g \odot b$, $\partial L/\partial b = g \odot a$, where
# $g = \partial L/\partial z$ is the gradient arriving from above.

# %%
x = mt.tensor(x_val, requires_grad=True)
y = mt.tensor(y_val, requires_grad=True)
u = x * y
v = (u + x).retain_grad()
z = v**2
print("z =", z)  # the repr shows grad_fn=<Pow>: the op that made z
z.backward()
from_backward = {"z": z.item(), "dz/dv": v.grad.item(), "dz/dx": x.grad.item(), "dz/dy": y.grad.item()}
print("backward():", from_backward)
print("chain rule by hand == backward():", by_hand == from_backward)

# %% [markdown]
# ## 3. What the graph looks like
#
# Before `backward()` frees it, the graph can be walked from the output: each non-leaf
# tensor knows the op that made it, `t.grad_fn` as in PyTorch (an instance of an op class in
# `minitransfer/functions/`, whose `inputs` are the tensors it was made from). We walk it
# with an explicit stack, as `backward()` does in `minitransfer/autograd.py` so that a chain
# of ten thousand ops never hits Python's recursion limit, and write it as text, as Graphviz
# DOT, and as a picture.

# %%
def walk(root, names):
    """Nodes (tensor, label) and edges (parent index, child index) of the graph below root."""
    index, nodes, edges, stack = {}, [], [], [root]
    while stack:
        t = stack.pop()
        if id(t) in index:
            continue
        index[id(t)] = len(nodes)
        op = type(t.grad_fn).__name__ if t.grad_fn is not None else None
        label = names.get(id(t), "const" if not t.requires_grad else "tensor")
        nodes.append((t, f"{label} = {t.item():g}" + (f"\n[{op}]" if op else "")))
        if t.grad_fn is not None:
            stack.extend(t.grad_fn.inputs)
    for t, _ in nodes:
        if t.grad_fn is not None:
            edges += [(index[id(p)], index[id(t)]) for p in t.grad_fn.inputs]
    return nodes, edges


x = mt.tensor(x_val, requires_grad=True)
y = mt.tensor(y_val, requires_grad=True)
u = x * y
v = u + x
z = v**2
nodes, edges = walk(z, {id(x): "x", id(y): "y", id(u): "u", id(v): "v", id(z): "z"})
print("the graph, one edge per line (input -> output [op]):")
for a, b in edges:
    print(f"  {nodes[a][1].splitlines()[0]:<10} -> {nodes[b][1].replace(chr(10), ' ')}")

dot = ["digraph G {", "  rankdir=LR;"]
dot += [f'  n{i} [label="{label}", shape={"box" if "[" in label else "ellipse"}];'.replace("\n", "\\n")
        for i, (_, label) in enumerate(nodes)]
dot += [f"  n{a} -> n{b};" for a, b in edges] + ["}"]
(FIGURES / "graph.dot").write_text("\n".join(dot) + "\n")
print(f"DOT file written: {FIGURES / 'graph.dot'}")
if shutil.which("dot"):  # Graphviz is optional
    subprocess.run(["dot", "-Tpng", str(FIGURES / "graph.dot"), "-o", str(FIGURES / "graph_dot.png")],
                   check=False)

# %% [markdown]
# The picture places each tensor by its distance from the output $z$: the leaves on the
# left, $z$ on the right; arrows run in the forward direction, gradients flow back against them.

# %%
depth = dict.fromkeys(range(len(nodes)), 0)  # longest distance from z (node 0)
for _ in range(len(nodes)):
    for a, b in edges:
        depth[a] = max(depth[a], depth[b] + 1)
levels = {}
for i, d in depth.items():
    levels.setdefault(d, []).append(i)
position = {i: (-d, k - (len(members) - 1) / 2)
            for d, members in levels.items() for k, i in enumerate(members)}
fig, ax = plt.subplots(figsize=(7, 3))
for a, b in edges:
    ax.annotate("", xy=position[b], xytext=position[a],
                arrowprops=dict(arrowstyle="->", shrinkA=22, shrinkB=22, color="gray"))
for i, (_, label) in enumerate(nodes):
    ax.text(*position[i], label, ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round", fc="lightyellow" if "[" in label else "lightblue"))
ax.set_xlim(-max(depth.values()) - 0.6, 0.6)
ax.set_ylim(-1.2, 1.2)
ax.axis("off")
ax.set_title("z = (x*y + x)**2: the recorded graph")
save(fig, "graph.png")

# %% [markdown]
# ## 4. The engine's walk, in its own source
#
# `z.backward()` checks its argument (`autograd.backward`) and hands over to
# `autograd.run_backward`, printed below from the installed package. It visits the tensors in
# **reverse topological order**: a tensor comes only after every tensor that was made from it.
# So when the walk reaches a node, $\partial z/\partial(\text{node})$ is complete (all the
# paths through it have been added up); the node's op turns it into gradients of the op's
# inputs with one vector–Jacobian product (`ctx.backward(g)`; `ctx` is the op that
# `node.grad_fn` returns, kept in `node._ctx`), and each input **adds** what it
# receives to what it already holds — the sum over paths of section 1. `topological_order`,
# in the same file, builds the order with the explicit stack of section 3.

# %%
print(inspect.getsource(autograd.run_backward))

# %% [markdown]
# ## 5. Gradients accumulate, and the graph is freed
#
# `backward()` **adds** into `.grad` (as PyTorch does): two backward passes give twice the
# gradient. That is why every training step starts with `optimizer.zero_grad()`. After a
# backward pass the graph's saved values are freed, so a second pass needs
# `retain_graph=True` on the first one.

# %%
z.backward(retain_graph=True)
print("x.grad after one backward: ", x.grad.item())
z.backward()
print("x.grad after two backwards:", x.grad.item(), "(accumulated: 6 + 6)")
try:
    z.backward()
except RuntimeError as error:
    print("a third backward fails:", error)

# %% [markdown]
# ## 6. A long chain: $(1 + 1/n)^n \to e$
#
# Multiply $x = 1$ by $(1 + 1/n)$ $n$ times. The derivative of $x (1+1/n)^n$ with respect
# to $x$ is $(1 + 1/n)^n$, which tends to $e = 2.71828\ldots$ Backward walks a graph of $n$
# nodes iteratively, so a deep graph is no problem.

# %%
n = 2_000 if QUICK else 20_000
x = mt.tensor(1.0, dtype=mt.float64, requires_grad=True)
out = x
for _ in range(n):
    out = out * (1 + 1 / n)
out.backward()
print(f"n = {n}: d out/dx = {x.grad.item():.6f}  ((1 + 1/n)^n = {(1 + 1 / n) ** n:.6f}, e = 2.718282)")

# %% [markdown]
# ## 7. Vectors: the gradient has the tensor's shape
#
# For $L = \sum_i (w_i x_i)^2$ the gradient is $\partial L/\partial w_i = 2 w_i x_i^2$:
# one number per weight, in an array shaped like $w$ — always the tensor's own shape and dtype.

# %%
w = mt.tensor([1.0, -2.0, 0.5], requires_grad=True)
xs = mt.tensor([3.0, 1.0, -4.0])
loss = ((w * xs) ** 2).sum()
loss.backward()
print("loss =", loss.item(), " dL/dw =", w.grad.tolist(), " by hand:", [2 * 1 * 9, 2 * -2 * 1, 2 * 0.5 * 16])
print("grad shape", w.grad.shape, "dtype", w.grad.dtype, "| x needs no gradient:", xs.grad)

# %% [markdown]
# ## 8. Exercises: build the walk yourself
#
# **01.1** Write `topological_order(root)`: a list of every tensor below `root` that an op
# made (`t.grad_fn is not None`), each one after all the tensors it was made from (its
# `t.grad_fn.inputs`), `root` last, none twice. A depth-first search that appends a tensor
# once its inputs are done does it; mind the tensors reached by two paths.
#
# **01.2** Write `grad(root, inputs)`, PyTorch's `torch.autograd.grad` for a one-number
# `root`: start from $\partial\,\text{root}/\partial\,\text{root} = 1$, walk your order in
# reverse, give each node's gradient `g` to its op, `node.grad_fn.backward(g)` (one gradient
# per entry of `node.grad_fn.inputs`, None where none is needed), and add up what reaches each
# tensor. Return the gradients of `inputs` as NumPy arrays.
#
# Each check runs your function on four graphs — lesson 1's chain, a diamond whose two paths
# have different lengths, a shared input $x^3 + x$, a broadcast vector — and compares with
# `backward()` on a copy of each. Replace the `raise` lines and rerun the cell. Worked
# solutions: `lessons/solutions/01_tensors_and_graph.py`.

# %%
from exercises import lesson01


def topological_order(root):
    """The tensors below root made by ops, each after the tensors it was made from."""
    raise NotImplementedError  # your code here


def grad(root, inputs):
    """[d root / d t for t in inputs], walking topological_order(root) in reverse."""
    raise NotImplementedError  # your code here


lesson01.check_topological_order(topological_order)
lesson01.check_grad(grad)

# %% [markdown]
# **More to try** (not graded): change $z$ to `(x * y + x).exp()` and redo the chain rule by
# hand (`functions.Exp`: $\partial L/\partial x = g \odot e^x$). Next lesson: what happens when
# shapes differ (broadcasting), and how to check any backward numerically.
