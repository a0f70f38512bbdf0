"""By hand means by hand: what each stub may not call, found in the student's source and in a trace.

Each check module lists, per stub, the torch calls that stub exists to replace (`FORBIDDEN`, a tuple of
`Rule`s). Two independent layers look for them, and the judge decides:

- the source: every cell the probe ran is parsed (never executed) here, on the judge's side. The stub
  is the last top-level statement that binds its name, as Python binds it; every function or class of
  the notebook it reaches is read too, and names are resolved through imports, aliases and assignment
  chains (`import torch.nn.functional as F`, `T = torch; T._VF.lstm_cell`). Access that cannot be read
  (computed `getattr`, `exec`, `__import__`, `globals()[...]`…) is reported as "cannot be checked";
- the trace: the probe runs each call of a stub under torch's function and dispatch modes and an
  autograd hook (autograder.probe.trace) and sends back which watched names it saw. The student controls the
  probe, so a trace can be defeated; the source is read where the student has no say.

A finding costs every case of the stub's groups (policy "zero", the default) or is noted for an
instructor's review (AUTOGRADER_BYHAND=review). No torch at import: this module is read by the judge.
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from autograder.i18n import N_, _, ngettext

POLICY_ENV = "AUTOGRADER_BYHAND"
MAX_TRACE_NAMES = 16  # how many watched names a probe may report for one call
MAX_NAME_CHARS = 100
AUTOGRAD_BACKWARD = "autograd:backward"  # the trace's names for the autograd engine's hooks
AUTOGRAD_GRAPH = "autograd:graph"
_TRACE_WORDS = {AUTOGRAD_BACKWARD: N_("a backward pass of autograd"),
                AUTOGRAD_GRAPH: N_("tensors that require grad (an autograd graph)")}


@dataclass(frozen=True)
class Rule:
    """One thing a stub may not use, and what to do instead.

    `names` are qualified names (`torch.nn.functional.embedding`); one ending in `.*` covers everything
    under it. They are matched in the source and, where torch can call them, watched in the trace. `ops`
    are further trace names (aten operators such as `aten::embedding`, or the autograd hooks). `methods`
    are method names forbidden on any object (`x.backward()`), unless a class of the notebook defines one
    of that name; `keywords` are keyword arguments forbidden unless given as a literal False
    (`requires_grad=True`), assignments to an attribute of that name included.
    """

    names: tuple[str, ...]
    advice: str
    ops: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()  # what the notebook lists (markdown); by default the names, shortened

    def listed(self) -> tuple[str, ...]:
        return self.shown or tuple(f"`{short(name)}`" for name in self.names)

    def watched(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if not n.endswith(".*")) + self.ops


# The pieces the check modules build their rules from.
RECURRENT_NAMES = (
    "torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNNCell", "torch.nn.LSTMCell", "torch.nn.GRUCell",
    "torch.nn.RNNBase", "torch.nn.RNNCellBase", "torch.rnn_tanh", "torch.rnn_relu", "torch.lstm", "torch.gru",
    "torch.rnn_tanh_cell", "torch.rnn_relu_cell", "torch.lstm_cell", "torch.gru_cell", "torch._VF.*",
)
RECURRENT_OPS = ("aten::_thnn_fused_lstm_cell", "aten::_thnn_fused_gru_cell", "aten::mkldnn_rnn_layer",
                 "aten::_cudnn_rnn", "aten::miopen_rnn")
AUTOGRAD_NAMES = (
    "torch.Tensor.backward", "torch.Tensor.requires_grad_", "torch.Tensor.retain_grad", "torch.autograd.grad",
    "torch.autograd.backward", "torch.autograd.functional.*", "torch.autograd.forward_ad.*",
    "torch.autograd.Function", "torch.autograd.Variable", "torch.func.*", "functorch.*",
)
AUTOGRAD_OPS = (AUTOGRAD_BACKWARD, AUTOGRAD_GRAPH)
AUTOGRAD_SHOWN = ("autograd (`.backward()`, `torch.autograd`, `torch.func`, `requires_grad`)",)


def autograd_rule(advice: str) -> Rule:
    """No autograd: the stub exists to compute its gradients by hand."""
    return Rule(AUTOGRAD_NAMES, advice, AUTOGRAD_OPS, methods=("backward", "requires_grad_", "retain_grad"),
                keywords=("requires_grad",), shown=AUTOGRAD_SHOWN)


def recurrent_rule(advice: str) -> Rule:
    """No recurrent module, cell or op of torch's: the stub exists to build one."""
    return Rule(RECURRENT_NAMES, advice, RECURRENT_OPS,
                shown=("torch's recurrent modules and cells (`nn.RNN`, `nn.LSTM`, `nn.GRU`, `nn.RNNCell`, "
                       "`nn.LSTMCell`, `nn.GRUCell`)", "their functional ops (`torch.rnn_tanh`, `torch.lstm`, "
                       "`torch.lstm_cell`, `torch.gru`, `torch.gru_cell`, …, `torch._VF`)"))


def short(name: str) -> str:
    """A qualified name as a notebook writes it: `F.embedding`, `nn.LSTM`, `torch.lstm_cell`."""
    for prefix, alias in (("torch.nn.functional.", "F."), ("torch.nn.", "nn.")):
        if name.startswith(prefix):
            name = alias + name[len(prefix):]
    return name.removesuffix(".*")


def notice(rules: Sequence[Rule]) -> str:
    """The line a notebook shows before a stub: generated from the rules, so the two always agree."""
    names = list(dict.fromkeys(n for rule in rules for n in rule.listed()))
    return "**You may not use:** " + ", ".join(names) + "."


def policy() -> str:
    """"zero" (a forbidden call costs the stub's points) or "review" (noted for an instructor)."""
    value = os.environ.get(POLICY_ENV, "zero").strip().lower()
    return "review" if value == "review" else "zero"


def rules_for(assignment: str, stub: str) -> tuple[Rule, ...]:
    import importlib

    from autograder import checks

    module = importlib.import_module(f"autograder.checks.{checks.module_name(assignment)}")
    return tuple(getattr(module, "FORBIDDEN", {}).get(stub, ()))


def watch_of(rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for rule in rules for name in rule.watched()))


def watched(assignment: str, call: Any) -> Any:
    """The call with the names its probe must watch for (none when the stub has no rules)."""
    watch = watch_of(rules_for(assignment, call.stub))
    return replace(call, watch=watch) if watch else call


def trace_names(value: object) -> tuple[str, ...]:
    """The trace names of a probe's reply, as the judge accepts them: a short list of short strings."""
    if not isinstance(value, list):
        return ()
    names = [v for v in value[:MAX_TRACE_NAMES] if isinstance(v, str) and 0 < len(v) <= MAX_NAME_CHARS]
    return tuple(names)


# ---------------------------------------------------------------- findings and the verdict

@dataclass(frozen=True)
class Finding:
    stub: str
    what: str  # the forbidden name, or what makes the code unreadable
    advice: str = ""
    line: int | None = None
    cell: str | None = None  # where, when not the stub's own cell
    written: str | None = None  # the source text, when it differs from `what`
    via: str | None = None  # the notebook function or class it is in, when not the stub itself
    verb: str = "calls"  # calls | uses | ran | dynamic

    @property
    def message(self) -> str:
        """The finding as a student reads it, in the current language (names and code as they are)."""
        details = [_("as `{code}`").format(code=self.written)] if self.written and self.written != self.what else []
        if self.line is not None:
            details.append(_("line {line} of {cell}").format(line=self.line, cell=self.cell) if self.cell
                           else _("line {line}").format(line=self.line))
        if self.via:
            details.append(_("in `{name}`").format(name=self.via))
        what = _(self.what) if self.what in _WORDS else self.what
        advice = _(self.advice) if self.advice else ""
        if self.verb == "dynamic":
            return _("`{stub}` cannot be checked: written so that the calls cannot be read ({details})").format(
                stub=self.stub, details=_listing([what, *details]))
        if self.verb == "ran":
            return _("`{stub}` ran {what} (seen while it ran): {advice}").format(stub=self.stub, what=what,
                                                                                 advice=advice)
        if details and self.verb == "uses":
            return _("`{stub}` uses {what} ({details}): {advice}").format(stub=self.stub, what=what,
                                                                          details=_listing(details), advice=advice)
        if details:
            return _("`{stub}` calls {what} ({details}): {advice}").format(stub=self.stub, what=what,
                                                                           details=_listing(details), advice=advice)
        if self.verb == "uses":
            return _("`{stub}` uses {what}: {advice}").format(stub=self.stub, what=what, advice=advice)
        return _("`{stub}` calls {what}: {advice}").format(stub=self.stub, what=what, advice=advice)


def _listing(items: Sequence[str]) -> str:
    """Details in parentheses, one after the other, as the current language separates them."""
    return _(", ").join(items)


@dataclass(frozen=True)
class Verdict:
    """What the rules decided for one group: the message (in the current language) and the policy it was
    decided under ("zero": its cases were zeroed; "review": noted for an instructor, points kept)."""

    message: str
    policy: str

    @property
    def review(self) -> bool:
        return self.policy == "review"


def trace_findings(stub: str, rules: Sequence[Rule], seen: Iterable[str]) -> list[Finding]:
    found, seen = [], set(seen)
    for rule in rules:
        for name in rule.watched():
            if name in seen:
                found.append(Finding(stub, _TRACE_WORDS.get(name, name), rule.advice, verb="ran"))
    return found


def verdict_message(findings: Sequence[Finding]) -> str:
    messages = list(dict.fromkeys(f.message for f in findings))
    shown = _("; ").join(messages[:3])
    if len(messages) > 3:
        more = len(messages) - 3
        return ngettext("{findings} (and {count} more)", "{findings} (and {count} more)", more).format(
            findings=shown, count=more)
    return shown


def apply(result: Any, findings: Sequence[Finding], mode: str | None = None) -> Verdict | None:
    """Zero every case of a group result for these findings (or, under "review", leave it as it is).

    Returns the verdict for the record (None when there is nothing to say): its message, and the policy. The
    cases are marked failed with the message, so every view (check cell, report, results.json) shows the same
    verdict; a case that failed on its own (a crash, a hang, a memory cap) keeps that reason first."""
    if not findings:
        return None
    message = verdict_message(findings)
    if (mode or policy()) == "review":
        return Verdict(message, "review")
    for case in result.cases:
        if case.passed:
            case.passed = False
            case.message = message
        elif message not in (case.message or ""):  # its own failure (a crash, a hang, memory) comes first
            case.message = (_("{reason}; {finding}").format(reason=case.message, finding=message) if case.message
                            else message)
    result.hint = None
    return Verdict(message, "zero")


def enforce(assignment: str, group: Any, result: Any, outcomes: Sequence[Any], program: Program | None,
            notes: list[str] | None = None) -> Verdict | None:
    """Both layers for one group: the source (when `program` is given) and the trace in `outcomes`.

    Returns the verdict (its message and policy), None where nothing was found; one for review is noted in
    `notes` too."""
    rules = rules_for(assignment, group.stub)
    if not rules:
        return None
    findings = program.findings(group.stub, rules) if program is not None else []
    seen = {name for outcome in outcomes if outcome is not None for name in getattr(outcome, "ops", ())}
    findings = findings or trace_findings(group.stub, rules, seen)  # the source's findings say where
    ran = any(getattr(o, "status", None) in ("ok", "raised") for o in outcomes if o is not None)
    findings = [f for f in findings if ran or f.what != _UNBOUND]
    verdict = apply(result, findings)
    if verdict and verdict.review and notes is not None:
        notes.append(_("{group}: for review: {message}").format(group=group.id, message=verdict.message))
    return verdict


# ---------------------------------------------------------------- reading the source

_UNBOUND = N_("no definition the grader can read")
_WORDS = frozenset((_UNBOUND, *_TRACE_WORDS.values()))  # what a finding names in words: translated when shown
_DYNAMIC_CALLS = {
    "builtins.__import__": "__import__", "builtins.exec": "exec", "builtins.eval": "eval",
    "builtins.compile": "compile", "builtins.globals": "globals()", "builtins.vars": "vars()",
    "builtins.breakpoint": "breakpoint()", "operator.attrgetter": "operator.attrgetter",
    "operator.methodcaller": "operator.methodcaller",
}
_DYNAMIC_PREFIXES = ("importlib", "sys.modules", "builtins.__dict__", "inspect", "ctypes", "pickle", "marshal",
                     "types.FunctionType", "types.CodeType")
_DYNAMIC_ATTRS = {"__dict__", "__getattribute__", "__globals__", "__builtins__", "__import__", "__code__",
                  "__subclasses__", "__closure__", "__getattr__", "__reduce__", "__reduce_ex__", "f_globals",
                  "f_locals", "f_back", "tb_frame", "gi_frame"}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
           ast.GeneratorExp)
_MAX_DEPTH = 40


def _is_dynamic(qualified: str) -> bool:
    return any(qualified == p or qualified.startswith(p + ".") for p in _DYNAMIC_PREFIXES)


@dataclass
class _Binding:
    kind: str  # value | import | def | class | unknown
    node: Any = None  # the value expression, or the def/class node
    name: str = ""  # for an import: the qualified name
    scope: _Scope | None = None


@dataclass
class _Scope:
    bindings: dict[str, list[_Binding]]
    parent: _Scope | None  # the enclosing function scope (None for the module)
    cell: int = 0
    is_module: bool = False


@dataclass
class _Cell:
    label: str  # "cell 9" (1-based, as the notebook shows it)
    tree: ast.Module


@dataclass
class Program:
    """The cells a submission's probe ran, parsed; the module scope as the last binding statements leave it."""

    cells: list[_Cell]
    module: _Scope = field(init=False)
    class_methods: set[str] = field(init=False)
    _cache: dict = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.module = _Scope({}, None, is_module=True)
        self.class_methods = set()
        for index, cell in enumerate(self.cells):
            for stmt in cell.tree.body:
                bound: dict[str, list[_Binding]] = {}
                scope = _Scope(self.module.bindings, None, index, True)
                for name, binding in _statement_bindings(stmt):
                    binding.scope = scope
                    bound.setdefault(name, []).append(binding)
                self.module.bindings.update(bound)  # the last statement that binds a name decides it
            for node in ast.walk(cell.tree):
                if isinstance(node, ast.ClassDef):
                    self.class_methods.update(n.name for n in node.body
                                              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))

    @classmethod
    def from_cells(cls, cells: Sequence[dict]) -> Program:
        """From the merged cells (`notebook.merge`): {"index", "source"} each, in the order they ran."""
        parsed = []
        for cell in cells:
            tree = _parse(str(cell.get("source", "")))
            if tree is not None:
                parsed.append(_Cell(_("cell {number}").format(number=int(cell.get("index", 0)) + 1), tree))
        return cls(parsed)

    @classmethod
    def from_history(cls, sources: Sequence[str]) -> Program:
        """From a kernel's input history (IPython's `In`), in the order the cells were run."""
        parsed = []
        for number, source in enumerate(sources):
            tree = _parse(source) if isinstance(source, str) else None
            if tree is not None:
                parsed.append(_Cell(_("input [{number}]").format(number=number), tree))
        return cls(parsed)

    def findings(self, stub: str, rules: Sequence[Rule]) -> list[Finding]:
        key = (stub, tuple(rules))
        if key not in self._cache:
            self._cache[key] = _Reader(self, stub, tuple(rules)).run()
        return list(self._cache[key])


def _parse(source: str) -> ast.Module | None:
    from autograder.notebook import parse_python

    try:
        return parse_python(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:  # magics and shell escapes, turned into calls the way the grader runs them
        from IPython.core.inputtransformer2 import TransformerManager

        return parse_python(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError, ImportError):
        return None


def _target_bindings(target: ast.AST, value: ast.AST | None) -> list[tuple[str, _Binding]]:
    if isinstance(target, ast.Name):
        return [(target.id, _Binding("value", value) if value is not None else _Binding("unknown"))]
    if isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) \
            else [None] * len(target.elts)
        return [b for t, v in zip(target.elts, values) for b in _target_bindings(t, v)]
    if isinstance(target, ast.Starred):
        return _target_bindings(target.value, None)
    return []


def _import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, _Binding]]:
    found = []
    for alias in node.names:
        if isinstance(node, ast.Import):
            if alias.asname:
                found.append((alias.asname, _Binding("import", name=alias.name)))
            else:
                top = alias.name.split(".")[0]
                found.append((top, _Binding("import", name=top)))
        else:
            base = ("." * node.level) + (node.module or "")
            if alias.name == "*":
                found.append(("*", _Binding("import", name=f"{base}.*")))
            else:
                found.append((alias.asname or alias.name, _Binding("import", name=f"{base}.{alias.name}")))
    return found


def _statement_bindings(stmt: ast.AST) -> list[tuple[str, _Binding]]:
    """The names one statement binds in its own scope (nested functions and classes not entered)."""
    found: list[tuple[str, _Binding]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, _Binding("def", node)))
            return
        if isinstance(node, ast.ClassDef):
            found.append((node.name, _Binding("class", node)))
            return
        if isinstance(node, _SCOPES):
            return
        if isinstance(node, ast.Assign):
            for target in node.targets:
                found.extend(_target_bindings(target, node.value))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            found.extend(_target_bindings(node.target, node.value if isinstance(node, ast.AnnAssign) else None))
        elif isinstance(node, ast.NamedExpr):
            found.extend(_target_bindings(node.target, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            found.extend(_target_bindings(node.target, None))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            found.extend(_target_bindings(node.optional_vars, None))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.append((node.name, _Binding("unknown")))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend(_import_bindings(node))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found.extend((name, _Binding("outer")) for name in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(stmt)
    return found


def _function_scope(node: ast.AST, parent: _Scope | None, cell: int) -> _Scope:
    bindings: dict[str, list[_Binding]] = {}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for arg, default in [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
            bindings.setdefault(arg.arg, []).append(_Binding("value", default) if default is not None
                                                    else _Binding("unknown"))
        for arg in (args.vararg, args.kwarg):
            if arg is not None:
                bindings.setdefault(arg.arg, []).append(_Binding("unknown"))
        body = node.body if isinstance(node.body, list) else [node.body]
    else:  # a comprehension: its targets are its own
        body = []
        for generator in node.generators:
            for name, binding in _target_bindings(generator.target, None):
                bindings.setdefault(name, []).append(binding)
    scope = _Scope(bindings, parent, cell)
    for stmt in body:
        for name, binding in _statement_bindings(stmt):
            binding.scope = scope
            bindings.setdefault(name, []).append(binding)
    for name in [n for n, bs in bindings.items() if any(b.kind == "outer" for b in bs)]:
        del bindings[name]  # `global x` / `nonlocal x`: the name is the enclosing scope's
    return scope


def _resolve_object(name: str) -> Any:
    """The object a qualified torch name denotes, looked up in modules already imported; None if none."""
    parts = name.split(".")
    if parts[0] not in ("torch", "functorch") or any(p.startswith("__") for p in parts):
        return None
    value = sys.modules.get(parts[0])
    try:
        for part in parts[1:]:
            value = sys.modules.get(f"{value.__name__}.{part}") if isinstance(value, type(sys)) and \
                f"{value.__name__}.{part}" in sys.modules else getattr(value, part)
    except Exception:  # noqa: BLE001 - a name that torch does not have denotes nothing
        return None
    return value


class _Reader:
    """One stub's reading: its binding, every notebook function or class it reaches, what they use."""

    def __init__(self, program: Program, stub: str, rules: tuple[Rule, ...]) -> None:
        self.program, self.stub, self.rules = program, stub, rules
        self.findings: list[Finding] = []
        self.done: set[int] = set()
        self.queue: list[tuple[ast.AST, _Scope]] = []
        self.owner: str | None = None  # the notebook definition being read, when not the stub
        self.stub_cell: int | None = None
        self.resolving: set[int] = set()
        self.objects = {}
        for rule in rules:
            for name in rule.names:
                if not name.endswith(".*"):
                    obj = _resolve_object(name)
                    if obj is not None:
                        try:
                            self.objects.setdefault(obj, name)
                        except TypeError:
                            pass

    # -- the walk

    def run(self) -> list[Finding]:
        bindings = self.program.module.bindings.get(self.stub)
        if not bindings:
            return [Finding(self.stub, _UNBOUND, verb="dynamic")]
        self.stub_cell = bindings[0].scope.cell if bindings[0].scope else None
        for binding in bindings:
            self._reach(binding)
        while self.queue:
            node, scope = self.queue.pop()
            name = getattr(node, "name", None)
            self.owner = name if name and name != self.stub else None
            self._walk(node, scope)
        unique = {}
        for finding in self.findings:
            unique.setdefault((finding.what, finding.line, finding.cell, finding.verb == "dynamic"), finding)
        def order(f: Finding) -> tuple:  # named calls first, then what cannot be read, then methods and keywords
            rank = 1 if f.verb == "dynamic" else 2 if f.what.startswith(".") or "=" in f.what else 0
            return rank, f.cell or "", f.line or 0

        return sorted(unique.values(), key=order)

    def _reach(self, binding: _Binding) -> None:
        scope = binding.scope or self.program.module
        if binding.kind in ("def", "class", "value") and binding.node is not None and id(binding.node) not in self.done:
            self.done.add(id(binding.node))
            self.queue.append((binding.node, scope))
        elif binding.kind == "import":
            self._check_name(binding.name, None, scope, None)

    def _walk(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, ast.ClassDef):
            for item in [*node.decorator_list, *node.bases, *node.keywords]:
                self._walk(item, scope)
            class_scope = _Scope({}, scope if not scope.is_module else None, scope.cell)
            for stmt in node.body:
                for name, binding in _statement_bindings(stmt):
                    binding.scope = class_scope
                    class_scope.bindings.setdefault(name, []).append(binding)
            for stmt in node.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._walk(stmt, scope)  # a method's free names skip the class body
                else:
                    self._walk(stmt, _Scope(class_scope.bindings, scope if not scope.is_module else None,
                                            scope.cell))
            return
        if isinstance(node, _SCOPES):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for item in node.decorator_list:
                    self._walk(item, scope)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                for default in [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]:
                    self._walk(default, scope)
            inner = _function_scope(node, None if scope.is_module else scope, scope.cell)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                children = node.body
            elif isinstance(node, ast.Lambda):
                children = [node.body]
            else:
                children = [*([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]),
                            *[part for g in node.generators for part in (g.iter, *g.ifs)]]
            for child in children:
                self._walk(child, inner)
            return
        if isinstance(node, (ast.arg, ast.arguments)):
            return
        if isinstance(node, ast.AnnAssign):
            for child in (node.target, node.value):
                if child is not None:
                    self._walk(child, scope)
            return
        if isinstance(node, ast.Call):
            self._check_call(node, scope)
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            verb = "uses"
            self._check_expression(node, scope, verb)
            if isinstance(node, ast.Attribute):
                if node.attr in _DYNAMIC_ATTRS:
                    self._dynamic(f"`.{node.attr}`", node, scope)
                self._walk_inner(node.value, scope)
                return
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            for rule in self.rules:
                if node.attr in rule.keywords:
                    self._forbid(f"`.{node.attr} =`", rule, node, scope, "uses", show=False)
        for child in ast.iter_child_nodes(node):
            self._walk(child, scope)

    def _walk_inner(self, node: ast.AST, scope: _Scope) -> None:
        """The receiver of an attribute chain: its names are reached, but a chain is judged once, whole."""
        while isinstance(node, ast.Attribute):
            if node.attr in _DYNAMIC_ATTRS:
                self._dynamic(f"`.{node.attr}`", node, scope)
            node = node.value
        if isinstance(node, ast.Name):
            for target in self._resolve(node, scope, 0):
                if isinstance(target, _Binding):
                    self._reach(target)
                elif _is_dynamic(target):
                    self._dynamic(f"`{target}`", node, scope)
        else:
            self._walk(node, scope)

    # -- what a node refers to

    def _resolve(self, node: ast.AST, scope: _Scope, depth: int) -> list[Any]:
        """Qualified names (str) and notebook definitions (_Binding of a def or class) `node` may denote."""
        if depth > _MAX_DEPTH:
            return []
        if isinstance(node, ast.Name):
            return self._lookup(node.id, scope, depth)
        if isinstance(node, ast.Attribute):
            return [f"{t}.{node.attr}" for t in self._resolve(node.value, scope, depth + 1) if isinstance(t, str)]
        if isinstance(node, ast.Call) and self._is(node.func, scope, "builtins.getattr", depth + 1) \
                and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            return [f"{t}.{node.args[1].value}" for t in self._resolve(node.args[0], scope, depth + 1)
                    if isinstance(t, str)]
        if isinstance(node, (ast.IfExp, ast.BoolOp)):
            parts = [node.body, node.orelse] if isinstance(node, ast.IfExp) else node.values
            return [t for part in parts for t in self._resolve(part, scope, depth + 1)]
        if isinstance(node, ast.NamedExpr):
            return self._resolve(node.value, scope, depth + 1)
        return []

    def _lookup(self, name: str, scope: _Scope | None, depth: int) -> list[Any]:
        while scope is not None and name not in scope.bindings:
            scope = scope.parent
        bindings = scope.bindings[name] if scope is not None else self.program.module.bindings.get(name)
        if bindings is None:
            stars = self.program.module.bindings.get("*", [])
            found = [f"{b.name[:-2]}.{name}" for b in stars if _resolve_object(f"{b.name[:-2]}.{name}") is not None]
            if found:
                return found
            return [f"builtins.{name}"] if hasattr(builtins, name) else []
        targets: list[Any] = []
        for binding in bindings:
            if binding.kind == "import":
                targets.append(binding.name)
            elif binding.kind in ("def", "class"):
                targets.append(binding)
            elif binding.kind == "value" and binding.node is not None:
                targets.append(binding)  # reached: its value is read like code
                if id(binding) not in self.resolving:  # `x = x.T` refers to itself
                    self.resolving.add(id(binding))
                    try:
                        targets.extend(self._resolve(binding.node, binding.scope or self.program.module, depth + 1))
                    finally:
                        self.resolving.discard(id(binding))
        return targets

    def _is(self, node: ast.AST, scope: _Scope, qualified: str, depth: int = 0) -> bool:
        return qualified in [t for t in self._resolve(node, scope, depth) if isinstance(t, str)]

    # -- findings

    def _where(self, node: ast.AST, scope: _Scope) -> tuple[int | None, str | None]:
        cell = None if scope.cell == self.stub_cell else self.program.cells[scope.cell].label
        return getattr(node, "lineno", None), cell

    def _forbid(self, what: str, rule: Rule, node: ast.AST, scope: _Scope, verb: str, show: bool = True) -> None:
        line, cell = self._where(node, scope)
        try:
            written = ast.unparse(node) if show else None
        except Exception:  # noqa: BLE001 - the text is a courtesy
            written = None
        written = written if written and len(written) <= 60 else None
        self.findings.append(Finding(self.stub, what, rule.advice, line, cell, written, self.owner, verb))

    def _dynamic(self, what: str, node: ast.AST, scope: _Scope) -> None:
        line, cell = self._where(node, scope)
        self.findings.append(Finding(self.stub, what, line=line, cell=cell, via=self.owner, verb="dynamic"))

    def _check_name(self, qualified: str, node: ast.AST | None, scope: _Scope, verb: str | None) -> None:
        for rule in self.rules:
            matched = self._match(qualified, rule)
            if matched:
                if node is None:
                    self.findings.append(Finding(self.stub, matched, rule.advice, verb="uses"))
                else:
                    self._forbid(matched, rule, node, scope, verb or "uses")

    def _match(self, qualified: str, rule: Rule) -> str | None:
        candidates = [qualified]
        if qualified.startswith("torch._VF."):
            candidates.append("torch." + qualified[len("torch._VF."):])
        if qualified.startswith("torch.ops.aten."):
            candidates.append("aten::" + qualified[len("torch.ops.aten."):].split(".")[0])
        for name in rule.names:
            for candidate in candidates:
                if name.endswith(".*") and (candidate == name[:-2] or candidate.startswith(name[:-1])):
                    return qualified if candidate == qualified else name[:-2]
                if candidate == name or candidate.startswith(name + "."):
                    return name
        for candidate in candidates:
            if candidate in rule.ops:
                return candidate
        obj = _resolve_object(qualified)
        if obj is not None:
            try:
                name = self.objects.get(obj)
            except TypeError:
                name = None
            if name is not None and name in rule.names:
                return name
        return None

    def _check_expression(self, node: ast.AST, scope: _Scope, verb: str) -> None:
        for target in self._resolve(node, scope, 0):
            if isinstance(target, _Binding):
                self._reach(target)
                continue
            if _is_dynamic(target):
                self._dynamic(f"`{target}`", node, scope)
            self._check_name(target, node, scope, verb)

    def _check_call(self, node: ast.Call, scope: _Scope) -> None:
        targets = [t for t in self._resolve(node.func, scope, 0) if isinstance(t, str)]
        for target in targets:
            if target in _DYNAMIC_CALLS:
                self._dynamic(f"`{_DYNAMIC_CALLS[target]}`", node, scope)
            if target in ("builtins.getattr", "builtins.setattr") and not (
                    len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                self._dynamic(_("`{name}` with a computed name").format(name=target.removeprefix("builtins.")),
                              node, scope)
            if target not in _DYNAMIC_CALLS:
                for rule in self.rules:
                    matched = self._match(target, rule)
                    if matched:
                        self._forbid(matched, rule, node.func, scope, "calls")
        if isinstance(node.func, ast.Attribute):
            for rule in self.rules:
                if node.func.attr in rule.methods and node.func.attr not in self.program.class_methods:
                    self._forbid(f".{node.func.attr}()", rule, node.func, scope, "calls", show=False)
        for keyword in node.keywords:
            for rule in self.rules:
                if keyword.arg in rule.keywords and not (isinstance(keyword.value, ast.Constant)
                                                          and keyword.value.value is False):
                    self._forbid(f"{keyword.arg}=", rule, keyword.value, scope, "uses", show=False)
