"""The API reference of robustsk: pages from ``__all__``, and checks that fail the build.

* ``write_pages(folder)`` writes one page per group of public modules, listing
  everything in each module's ``__all__`` (autosummary makes a page per name),
  so a new public name appears without editing the documentation.
* A public robustsk class, function or method without a docstring is a warning
  (an error under ``-W``) naming the object and its source file.
* Members that robustsk does not define (scikit-learn's ``set_*_request``,
  skorch's methods), and overrides without a docstring of their own (``forward``,
  ``train_step_single``), are left to the base class's documentation.
* A cross-reference to a robustsk object that is documented under its public
  name (``robustsk.certify.methods.certify_ibp`` is ``robustsk.certify.certify_ibp``)
  links there; one to an object that exists but is not public (a private helper,
  a submodule) renders as code; one to a name that does not exist stays
  unresolved, which ``nitpicky`` turns into a warning naming the docstring's file.
"""
import importlib
import inspect
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]

# (title, page, modules): the reference is grouped as the package is.
GROUPS = [
    ("Defenses", "defenses", ["robustsk.defenses"]),
    ("Attacks", "attacks", ["robustsk.attacks"]),
    ("Evaluation", "evaluation", ["robustsk.evaluation"]),
    ("Certification", "certify", ["robustsk.certify"]),
    ("Statistics", "stats", ["robustsk.stats"]),
    ("Datasets", "datasets", ["robustsk.datasets"]),
    ("Report", "report", ["robustsk.report"]),
    ("Metrics and callbacks", "metrics", ["robustsk.metrics", "robustsk.callbacks"]),
    ("Ensembles and heads", "ensembles", ["robustsk.ensembles", "robustsk.heads"]),
    ("Poisoning", "poisoning", ["robustsk.poisoning"]),
    ("Preemptive robustness", "preemptive", ["robustsk.preemptive"]),
    ("Review experiment", "review", ["robustsk.review"]),
    ("Extension API", "extension", ["robustsk.base", "robustsk.defense_api",
                                    "robustsk.fit_checks", "robustsk.params",
                                    "robustsk.validation", "robustsk.modules",
                                    "robustsk.criteria", "robustsk.loss_terms"]),
]


def public_modules():
    return [name for _, _, modules in GROUPS for name in modules]


def public_names(module_name):
    module = importlib.import_module(module_name)
    return [name for name in module.__all__ if not name.startswith("__")]


def page_text(title, modules):
    lines = [title, "=" * len(title), ""]
    for name in modules:
        if len(modules) > 1:
            lines += [f"``{name}``", "-" * (len(name) + 4), ""]
        lines += [f".. automodule:: {name}", "   :no-members:", "",
                  f".. currentmodule:: {name}", "",
                  ".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
        lines += [f"   {public}" for public in public_names(name)]
        lines.append("")
    return "\n".join(lines)


def write_pages(folder):
    """Write the API pages into ``folder``; return their names."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    for title, page, modules in GROUPS:
        text = page_text(title, modules)
        path = folder / f"{page}.rst"
        if not path.exists() or path.read_text() != text:  # unchanged pages keep Sphinx's cache
            path.write_text(text)
    return [page for _, page, _ in GROUPS]


def _public_index():
    """id(object) -> the name it is documented under."""
    index = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                index.setdefault(id(obj), f"{module_name}.{name}")
    return index


def _lookup(path):
    """The object at dotted ``path`` (module, then attributes), or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _candidates(node):
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    out = [target]
    if module:
        out.append(f"{module}.{target}")
        if cls:
            out.append(f"{module}.{cls}.{target}")
            owner = _lookup(f"{module}.{cls}")
            if inspect.isclass(owner):  # names of the modules defining the class and its bases
                out += [f"{base.__module__}.{target}" for base in owner.__mro__]
        home = _lookup(module)
        if home is not None and inspect.ismodule(home):
            for name in getattr(home, "__all__", []):  # names of the documented object's module
                obj = getattr(home, name, None)
                if getattr(obj, "__module__", None):
                    out.append(f"{obj.__module__}.{target}")
    return [c for c in out if c.startswith("robustsk")]


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    index = app.env._robustsk_public if hasattr(app.env, "_robustsk_public") else None
    if index is None:
        index = app.env._robustsk_public = _public_index()
    domain = env.get_domain("py")
    for path in _candidates(node):
        obj = _lookup(path)
        if obj is None:
            continue
        public = index.get(id(obj))
        if public is None and "." in path:  # a method or attribute of a public class
            owner_path, attr = path.rsplit(".", 1)
            owner = _lookup(owner_path)
            if owner is not None and id(owner) in index:
                public = f"{index[id(owner)]}.{attr}"
        if public is not None:
            for role in ("obj", "class", "func", "meth", "attr", "exc", "data"):
                ref = domain.resolve_xref(env, node["refdoc"], app.builder, role, public,
                                          node, contnode)
                if ref is not None:
                    return ref
        return contnode  # it exists but is not public: plain code, no link
    return None


def _defined_in_robustsk(obj):
    obj = inspect.unwrap(getattr(obj, "fget", obj))
    return (getattr(obj, "__module__", None) or "").startswith("robustsk")


def _overrides(obj, name):
    """Whether ``obj`` (a member ``name`` of a robustsk class) overrides a base class's."""
    owner_name = getattr(inspect.unwrap(getattr(obj, "fget", obj)), "__qualname__", "")
    module = importlib.import_module(getattr(obj, "__module__", None) or "builtins")
    owner = getattr(module, owner_name.split(".")[0], None)
    return inspect.isclass(owner) and any(hasattr(base, name) for base in owner.__mro__[1:])


def _skip_member(app, what, name, obj, skip, options):
    if what != "class" or skip:
        return None
    if not _defined_in_robustsk(obj):
        return True  # skorch's, scikit-learn's and torch's members: their own docs
    if not getattr(obj, "__doc__", None) and _overrides(obj, name):
        return True  # an override (forward, train_step_single): the base documents it
    return None


def _check_docstring(app, what, name, obj, options, signature, return_annotation):
    # autodoc-process-signature: fired for every documented object, with or without a
    # docstring (autodoc-process-docstring is not fired when there is none).
    if what not in ("module", "class", "exception", "function", "method", "property"):
        return
    doc = getattr(getattr(obj, "fget", obj), "__doc__", None)  # its own, not a base's
    if not _defined_in_robustsk(obj) or (doc and doc.strip()):
        return
    try:
        target = inspect.unwrap(getattr(obj, "fget", obj))
        source = Path(inspect.getsourcefile(target))
        source = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
        line = inspect.getsourcelines(target)[1]
        where = f"{source}:{line}"
    except (TypeError, OSError, ValueError):
        where = "(source not found)"
    logger.warning(f"{where}: public {what} {name} has no docstring "
                   f"(every public robustsk object needs a numpydoc docstring)",
                   type="robustsk", subtype="docstring")


def setup(app):
    app.connect("missing-reference", _missing_reference)
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-signature", _check_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
