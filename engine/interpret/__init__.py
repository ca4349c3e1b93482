"""Explain trained models with Captum attribution methods.

Public API: :class:`Explainable` (a model ready for attribution), :data:`METHODS` (the
attribution-method registry), :func:`explain_sample` / :func:`explain_many`,
:func:`load_trained` (a run directory -> model, spec, data), :func:`randomization_check`
(the model-randomization sanity test) and :func:`render_attribution` (PNG panels).
Heavy imports (torch, captum) happen in the submodules; import them directly when possible.
"""
