"""Publishing an output folder to the Hugging Face Hub.

:func:`push_output` stages what it pushes in a temporary folder of links (the card re-rendered for
the repo and the artifacts chosen, pickles and checkpoints left out), creates the repo with
``huggingface_hub.create_repo`` and uploads with ``upload_folder``. The output folder itself is never
written. Settings come from the run's ``recipe.yaml`` (its ``hub:`` section) unless given here; the
token only from ``HF_TOKEN`` or the saved ``hf auth login``; the endpoint from ``HF_ENDPOINT``.

Transient failures: huggingface_hub retries its preupload and commit calls with backoff by itself;
``create_repo`` and ``create_branch`` it does not, so they are retried here. A push that still fails
raises :class:`PushError` saying what went wrong and the exact command that retries it.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable

from .errors import HfTransferError
from .hub import RunFiles, read_run, render_card
from .outputs import ADAPTER_CONFIG, CARD_FILE, CURVES_FILE, MERGED_DIR, METRICS_FILE, RECIPE_FILE, REPORT_FILE

logger = logging.getLogger("hf_transfer")
ARTIFACTS = ("adapter", "merged", "both")
# Never pushed: pickled files (only safetensors weights go to the Hub), Trainer checkpoints and logs, dotfiles.
NOT_PUSHED = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt", "*.joblib", ".*")
CHART_FILES = ("confusion_matrix_*.png", CURVES_FILE)
RUN_FILES = (RECIPE_FILE, REPORT_FILE, METRICS_FILE)
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
RETRY_DELAYS = (1.0, 2.0, 4.0)  # seconds before each retry of create_repo / create_branch
TOKEN_SCAN_LIMIT = 64 * 2**20  # bytes; larger files are weights


class PushError(HfTransferError):
    """The output folder could not be pushed; the local output is unchanged."""


@dataclass
class PushSettings:
    repo_id: str
    private: bool
    revision: str | None
    create_pr: bool
    commit_message: str
    layout: str  # see hf_transfer.hub: model, adapter, merged or both
    retry_command: str


def push_output(
    output_dir: str | Path,
    *,
    repo_id: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool | None = None,
    commit_message: str | None = None,
    artifacts: str | None = None,
) -> str:
    """Push the run in ``output_dir`` to the Hub; arguments left at None come from its recipe's ``hub:`` section.

    Returns the URL of the repo (of the branch when ``revision`` is set, of the pull request with ``create_pr``).
    """
    out = Path(output_dir)
    run = read_run(out)
    settings = resolve_settings(
        run,
        repo_id=repo_id,
        private=private,
        revision=revision,
        create_pr=create_pr,
        commit_message=commit_message,
        artifacts=artifacts,
    )
    token = _token(settings)
    try:
        with tempfile.TemporaryDirectory(prefix="hf-transfer-push-") as tmp:
            staging = stage(run, settings, Path(tmp))
            _check_no_token(staging, token, settings)
            return _upload(staging, settings, token)
    except PushError as e:
        raise PushError(str(e).replace(token, "<token>")) from None


def resolve_settings(run: RunFiles, **given: Any) -> PushSettings:
    """The push settings: what was given, else the recipe's ``hub:`` section; every mistake raises PushError."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    hub = run.section("hub")
    pick = {k: given[k] if given.get(k) is not None else hub.get(k) for k in given}
    repo_id = (pick["repo_id"] or "").strip()
    if not repo_id:
        raise PushError("no Hub repo to push to: set hub.repo_id in the recipe or pass --repo-id <namespace>/<name>")
    try:
        validate_repo_id(repo_id)
        valid = repo_id.count("/") == 1
    except HFValidationError:
        valid = False
    if not valid:
        raise PushError(
            f"'{repo_id}' is not a valid Hub repo id: expected <namespace>/<name> (letters, digits, '-', '_' and '.', "
            "at most 96 characters per part, no '--' or '..'), e.g. my-username/bert-ag-news; "
            "pass --repo-id <namespace>/<name> or set hub.repo_id"
        )
    revision = pick["revision"] or None
    create_pr = bool(pick["create_pr"])
    if create_pr and revision not in (None, "main"):
        raise PushError(
            f"hub.create_pr opens a pull request against the default branch, but hub.revision is '{revision}'; "
            "unset one of them (--revision main, or --no-create-pr)"
        )
    artifacts = pick["artifacts"] or "adapter"
    if artifacts not in ARTIFACTS:
        raise PushError(f"hub.artifacts must be one of {', '.join(ARTIFACTS)}, found '{artifacts}'")
    layout = "model"
    if given.get("artifacts") not in (None, "adapter") and not (run.out / ADAPTER_CONFIG).is_file():
        raise PushError(
            f"--artifacts {given['artifacts']} chooses between a LoRA run's adapter and its merged model, but "
            f"'{run.out}' holds a whole model (no {ADAPTER_CONFIG}), which is pushed as it is; leave --artifacts out"
        )
    if (run.out / ADAPTER_CONFIG).is_file():
        layout = artifacts
        if artifacts != "adapter" and not (run.out / MERGED_DIR / "config.json").is_file():
            raise PushError(
                f"hub.artifacts is '{artifacts}' but '{run.out / MERGED_DIR}' holds no merged model; merge first "
                f"(hf-transfer merge {shlex.quote(str(run.out))} {shlex.quote(str(run.out / MERGED_DIR))}) "
                "or push the adapter alone (--artifacts adapter)"
            )
    report = run.report
    message = pick["commit_message"] or (
        f"Upload {report.get('task', 'model')} {'adapter' if layout in ('adapter', 'both') else 'model'} "
        f"trained with hf_transfer ({report.get('strategy', {}).get('name', '?')} strategy)"
    )
    settings = PushSettings(
        repo_id, bool(pick["private"]), None if revision == "main" else revision, create_pr, message, layout, ""
    )
    settings.retry_command = retry_command(run, settings, given)
    return settings


def retry_command(run: RunFiles, settings: PushSettings, given: dict[str, Any]) -> str:
    """The ``hf-transfer push`` command that repeats this push (settings that differ from the recipe spelled out)."""
    hub = run.section("hub")
    parts = ["hf-transfer", "push", str(run.out), "--repo-id", settings.repo_id]
    if settings.private != bool(hub.get("private")):
        parts.append("--private" if settings.private else "--no-private")
    if settings.create_pr != bool(hub.get("create_pr")):
        parts.append("--create-pr" if settings.create_pr else "--no-create-pr")
    if given.get("revision") is not None:
        parts += ["--revision", given["revision"]]
    if given.get("commit_message") is not None:
        parts += ["--commit-message", given["commit_message"]]
    if given.get("artifacts") is not None and settings.layout != "model":
        parts += ["--artifacts", given["artifacts"]]
    return shlex.join(parts)


def _failure(settings: PushSettings, what: str) -> PushError:
    return PushError(
        f"{what}\nNothing was changed in the local output folder. Once fixed, retry with:\n  {settings.retry_command}"
    )


def _token(settings: PushSettings) -> str:
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise _failure(settings, "cannot push while HF_HUB_OFFLINE is set; unset it (or set HF_HUB_OFFLINE=0)")
    token = get_token()
    if not token:
        raise _failure(
            settings,
            "no Hugging Face token: set the HF_TOKEN environment variable to a token with write access "
            "(https://huggingface.co/settings/tokens) or run `hf auth login`; a token never goes in a recipe",
        )
    return token


# ---------------------------------------------------------------- staging


def _pushed(path: Path) -> bool:
    return path.is_file() and not any(fnmatch(path.name, p) for p in NOT_PUSHED)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # no symlinks on this file system: copy
        shutil.copy2(src, dst)


def stage(run: RunFiles, settings: PushSettings, staging: Path) -> Path:
    """Lay out in ``staging`` exactly what the repo receives, as links to the output folder's files."""
    out, layout = run.out, settings.layout
    own = (CARD_FILE, *CHART_FILES)
    sources = [(p, p.name) for p in sorted((out / MERGED_DIR if layout == "merged" else out).iterdir())]
    if layout == "merged":
        sources += [(out / name, name) for name in RUN_FILES if (out / name).is_file()]
    if layout == "both":
        sources += [(p, f"{MERGED_DIR}/{p.name}") for p in sorted((out / MERGED_DIR).iterdir()) if p.name != CARD_FILE]
    for src, name in sources:
        if _pushed(src) and not any(fnmatch(name, p) for p in own):
            _link(src, staging / name)
    if not any(p.suffix == ".safetensors" for p in staging.iterdir()):
        raise _failure(settings, f"'{out}' holds no safetensors weights to push (only safetensors files are pushed)")
    render_card(out, dest=staging, repo_id=settings.repo_id, layout=layout)
    return staging


def _check_no_token(staging: Path, token: str, settings: PushSettings) -> None:
    needle = token.encode()
    for path in sorted(staging.rglob("*")):
        if path.is_file() and path.stat().st_size <= TOKEN_SCAN_LIMIT and needle in path.read_bytes():
            name = path.relative_to(staging)
            raise _failure(settings, f"refusing to push: '{name}' contains your Hub token; remove it from that file")


# ---------------------------------------------------------------- upload


def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _with_retries(call: Callable[[], Any], what: str) -> Any:
    """Retry a call that huggingface_hub does not retry itself, on transient HTTP errors and network failures."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
        try:
            return call()
        except (HfHubHTTPError, httpx2.TransportError) as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            transient = isinstance(e, httpx2.TransportError) or status in TRANSIENT_STATUS
            if not transient or delay is None:
                raise
            logger.warning(
                "%s failed (%s); retrying in %gs [retry %d/%d]",
                what,
                status or type(e).__name__,
                delay,
                attempt,
                len(RETRY_DELAYS),
            )
            time.sleep(delay)


def _upload(staging: Path, settings: PushSettings, token: str) -> str:
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    endpoint = _endpoint()
    api = HfApi(endpoint=endpoint, token=token)
    repo = settings.repo_id
    try:
        url = _with_retries(lambda: api.create_repo(repo, private=settings.private, exist_ok=True), f"creating {repo}")
        if settings.revision:
            _with_retries(
                lambda: api.create_branch(repo, branch=settings.revision, exist_ok=True),
                f"creating branch {settings.revision}",
            )
        info = api.upload_folder(
            repo_id=repo,
            folder_path=staging,
            commit_message=settings.commit_message,
            revision=settings.revision,
            create_pr=settings.create_pr or None,
        )
    except HfHubHTTPError as e:
        raise _failure(settings, _http_message(e, settings, endpoint)) from None
    except (httpx2.TransportError, OfflineModeIsEnabled, OSError) as e:
        raise _failure(
            settings,
            f"could not reach the Hub at {endpoint} ({type(e).__name__}: {e}); check the network "
            "connection (and HF_ENDPOINT if you set it)",
        ) from None
    except ValueError as e:  # e.g. the card's metadata rejected by /api/validate-yaml
        raise _failure(settings, f"the Hub rejected the push of '{repo}': {e}") from None
    if info.pr_url:
        return info.pr_url
    return f"{str(url).rstrip('/')}/tree/{settings.revision}" if settings.revision else str(url)


def _http_message(e: Any, settings: PushSettings, endpoint: str) -> str:
    status = e.response.status_code
    repo = settings.repo_id
    namespace, name = repo.split("/")
    said = f": {e.server_message}" if getattr(e, "server_message", None) else ""
    if status == 401:
        return (
            f"the Hub at {endpoint} rejected your token (401 Unauthorized{said}); set HF_TOKEN to a valid token "
            "with write access or run `hf auth login` again"
        )
    if status == 403:
        return (
            f"you are not allowed to write to '{repo}' (403 Forbidden{said}): the namespace '{namespace}' belongs to "
            f"someone else or your token is read-only; push to your own namespace (--repo-id <your-username>/{name}) "
            f"or use a token with write access to '{namespace}'"
        )
    if status == 404 and settings.revision:
        return f"'{repo}' or its branch '{settings.revision}' was not found on the Hub (404{said})"
    if status in TRANSIENT_STATUS:
        return f"the Hub at {endpoint} kept failing (HTTP {status}{said}) after retries with backoff; try again later"
    return f"the Hub refused the push to '{repo}' (HTTP {status}{said})"
