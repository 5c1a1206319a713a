"""`index.html`: one self-contained page (inline CSS and JS, no network) for people.

The verdict first; then the rules by level, coloured by result; then each finding,
expandable, with the request, the response, what was expected and a copy button for the
curl line; then the run's metadata, so the run can be reproduced.

Every value is interpolated through `html_text` (or `html_block` inside <pre>): control
characters made visible, then `html.escape` with quotes, so no value can open an
element or an attribute, whatever its type; the page's only script and style are its own.
"""

from __future__ import annotations

from html import escape

from migma_contract.config.options import ENV_PREFIX
from migma_contract.contract.rules import Level
from migma_contract.core.untrusted import clean_text
from migma_contract.run.result import STATUS_LOOK, Finding, RunResult, Status

CSS = """
:root{--bg:#fff;--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--card:#f6f7f9;--pass:#1f7a3d;--pass-bg:#e3f4e8;
--fail:#b3261e;--fail-bg:#fde7e5;--skip:#7a5b00;--skip-bg:#fff4d1;--acc:#6b3fa0;--acc-bg:#efe6fa;--code:#f0f2f5}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e6e9ef;--muted:#a0a8b8;--line:#2c323c;--card:#1c2027;
--pass:#7fd497;--pass-bg:#15301f;--fail:#ff8a80;--fail-bg:#3a1714;--skip:#f0cf6b;--skip-bg:#33290c;--acc:#c9a7f0;--acc-bg:#2a1f38;--code:#0f1216}}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.35rem;margin:0 0 4px}h2{font-size:1.1rem;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:.95rem;margin:16px 0 8px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.verdict{border-radius:10px;padding:14px 18px;margin-bottom:8px}
.verdict.passed{background:var(--pass-bg);color:var(--pass)}.verdict.failed,.verdict.aborted,.verdict.incomplete,.verdict.interrupted{background:var(--fail-bg);color:var(--fail)}
.verdict p{margin:2px 0;color:var(--fg)}.verdict a{color:inherit;font-weight:600}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0 0}.counts span{background:var(--bg);border-radius:999px;padding:2px 10px;font-size:.85rem;color:var(--fg)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:8px}
.rule{display:block;border-radius:8px;padding:8px 10px;border:1px solid var(--line);text-decoration:none;color:var(--fg)}
.rule b{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem;word-break:break-all}
.rule small{display:block;color:var(--muted);font-size:.78rem}
.rule .st{float:right;font-size:.75rem;font-weight:600;text-transform:uppercase}
.rule.passed{background:var(--pass-bg)}.rule.passed .st{color:var(--pass)}
.rule.failed{background:var(--fail-bg);border-color:var(--fail)}.rule.failed .st{color:var(--fail)}
.rule.not_exercised{background:var(--skip-bg)}.rule.not_exercised .st{color:var(--skip)}
.rule.accepted{background:var(--acc-bg)}.rule.accepted .st{color:var(--acc)}
details{border:1px solid var(--line);border-radius:8px;margin:8px 0;background:var(--card)}
summary{cursor:pointer;padding:10px 12px;font-weight:600;list-style-position:outside}
summary code{color:var(--fail)}details .body{padding:0 12px 12px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}dt{color:var(--muted)}dd{margin:0;word-break:break-word}
pre{background:var(--code);border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;max-height:320px;font-size:.8rem;white-space:pre-wrap;word-break:break-all;margin:4px 0}
.curl{position:relative}.curl pre{padding-top:30px}.curl button{position:absolute;top:6px;right:6px;font:inherit;font-size:.78rem;padding:2px 10px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg);cursor:pointer}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px}@media (max-width:720px){.pair{grid-template-columns:1fr}dl{grid-template-columns:1fr}dt{margin-top:4px}}
table.meta{border-collapse:collapse;width:100%;font-size:.88rem}table.meta td{border-top:1px solid var(--line);padding:4px 6px;vertical-align:top;word-break:break-word}
table.meta td:first-child{color:var(--muted);white-space:nowrap;width:1%}
.muted{color:var(--muted)}.causes li{margin:4px 0}footer{margin:30px 0 10px;color:var(--muted);font-size:.8rem}
"""

JS = """
document.addEventListener('click',function(e){var b=e.target.closest('.curl button');if(!b)return;
var t=b.parentNode.querySelector('pre').textContent;var done=function(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},1500)};
if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(done,function(){})}else{var a=document.createElement('textarea');
a.value=t;document.body.appendChild(a);a.select();document.execCommand('copy');document.body.removeChild(a);done()}});
"""


def html_text(value: object) -> str:
    """Any value as one line of HTML text or attribute value."""
    return escape(clean_text(value), quote=True)


def html_block(value: object) -> str:
    """Any value as the text of a <pre> block (newlines and tabs kept)."""
    return escape(clean_text(value, multiline=True), quote=True)


_e = html_text


def _words(text: str) -> str:
    """Escaped rule words, with the catalogue's `backticked` names as <code>."""
    parts = _e(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


def _headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{_e(name)}: {_e(value)}" for name, value in headers.items())


def _finding_id(result: RunResult, index: int) -> str:
    """The anchor of a finding: its rule's name for the first one, numbered after (several per rule)."""
    finding = result.findings[index]
    earlier = sum(1 for f in result.findings[:index] if f.rule == finding.rule)
    return f"finding-{finding.rule}" + (f"-{earlier + 1}" if earlier else "")


def _warnings(result: RunResult) -> str:
    if not result.warnings:
        return ""
    items = "".join(f"<li>{_e(warning)}</li>" for warning in result.warnings)
    return f'<h2>Warnings ({len(result.warnings)})</h2>\n<ul class="warnings">{items}</ul>'


def _root_causes(result: RunResult) -> str:
    if not result.root_causes:
        return ""
    items = []
    for cause in result.root_causes:
        rules = ", ".join(f'<a href="#finding-{_e(rule_id)}"><code>{_e(rule_id)}</code></a>' for rule_id in cause.rules)
        shapes = f' <span class="muted">— answered with {_e("; or ".join(cause.bodies))}</span>' if cause.shapes else ""
        items.append(f"<li><b>{_e(cause.summary)}</b>: {len(cause.rules)} rules — {rules}{shapes}</li>")
    return f'<h2>Root causes ({len(result.root_causes)})</h2>\n<ul class="causes">{"".join(items)}</ul>'


def _finding(index: int, finding: Finding, anchor: str) -> str:
    response = finding.response
    status = response.status if response.status is not None else "no response"
    tag = " · accepted by the baseline" if finding.baselined else ""
    why = f"<dt>why</dt><dd>{_e(finding.attribution)}</dd>" if finding.attribution else ""
    error = f"\n{_e(response.error)}" if response.error else ""
    return f"""
<details id="{_e(anchor)}"{' open' if index == 0 else ''}>
<summary><code>{_e(finding.rule)}</code> <span class="muted">[{_e(finding.level)}]{tag}</span> — {_e(finding.case_label[:100])}: {_e(finding.actual[:140])}</summary>
<div class="body">
<dl>
<dt>rule</dt><dd>{_words(finding.rule_text)} <span class="muted">({_words(finding.source)})</span></dd>
<dt>case</dt><dd>{_e(finding.case_label)} <span class="muted">{_e(finding.case)} · {_e(finding.phase)}</span></dd>
<dt>expected</dt><dd>{_e(finding.expected)}</dd>
<dt>got</dt><dd>{_e(finding.actual)}</dd>{why}
</dl>
<div class="curl"><button type="button">Copy</button><pre>{_e(finding.request.curl)}</pre></div>
<div class="pair">
<div><h3>Request</h3><pre>{_e(finding.request.method)} {_e(finding.request.url)}
{_headers(finding.request.headers)}

{html_block(finding.request.body)}</pre></div>
<div><h3>Response · {_e(status)} · {_e(_ms(response.elapsed_ms))} ms</h3><pre>{_headers(response.headers)}

{html_block(response.body)}{error}</pre></div>
</div>
</div>
</details>"""


def _ms(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else str(value)


def _rules(result: RunResult) -> str:
    parts = []
    for level in Level:
        rules = [r for r in result.rules if r.level == level.value]
        if not rules:
            continue
        cells = []
        for rule in rules:
            href = f' href="#finding-{_e(rule.id)}"' if result.findings_for(rule.id) else ""
            tag = "a" if href else "div"
            detail = (rule.reason or rule.observed or rule.unshown_line(len(result.findings_for(rule.id)))
                      or f"{rule.exercised} exercised · {rule.failed} failed")
            cells.append(
                f'<{tag} class="rule {_e(rule.status)}"{href} title="{_e(rule.text)}"><span class="st">{_e(STATUS_LOOK[rule.status].word)}</span>'
                f"<b>{_e(rule.id)}</b><small>{_words(rule.text)}</small><small>{_e(detail)}</small></{tag}>"
            )
        parts.append(f'<h3>{_e(level.value)}</h3><div class="grid">{"".join(cells)}</div>')
    return "\n".join(parts)


def _meta(result: RunResult) -> str:
    rows = [
        ("verdict", f"{result.verdict} (exit {result.exit_code})"),
        ("target", f"{result.target.label} · {result.target.kind}" + (" · data-bound" if result.target.data_bound else " · open")),
        ("level", result.level),
        ("seed", result.seed),
        ("budget", ", ".join(f"{k} {v}" for k, v in vars(result.budget).items() if v is not None)),
        ("requests sent", result.requests_sent),
        ("plan", ", ".join(f"{k} {v}" for k, v in vars(result.plan).items() if v is not None)),
        ("started / finished", f"{result.started} → {result.finished} ({result.duration_s:.1f} s)"),
        ("spec", f"{result.spec.source} · {result.spec.fingerprint} · OpenAPI {result.spec.version}"),
        ("repairs applied", "; ".join(result.spec.repairs) or "none"),
        ("TLS verification", "ON" if result.settings.verify_tls else "OFF (--insecure)"),
        ("redirects", "followed" if result.settings.follow_redirects else "not followed"),
        ("recipients", f"@{result.settings.recipient_domain}" + ("" if result.settings.recipient_domain_reserved else " (NOT a reserved domain)")),
        ("baseline", ", ".join(result.settings.baseline) or "none"),
        *[("stale baseline entry", entry) for entry in result.stale_baseline],
        ("tool", f"migma-contract {result.tool_version}"),
    ]
    if not result.complete:
        rows.insert(1, (result.completion, result.completion_words))
    if result.traffic is not None:
        traffic = result.traffic
        rows.insert(2, ("traffic", f"{traffic.source}: {traffic.counts}"))
        rows[3:3] = [("note", note) for note in traffic.notes]
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def render_html(result: RunResult) -> str:
    passed, exercised = result.compliance
    counts = (f"<span>{result.count(Status.PASSED)} passed</span><span>{result.count(Status.FAILED)} failed</span>"
              f"<span>{result.count(Status.NOT_EXERCISED)} not exercised</span>"
              + (f"<span>{result.count(Status.ACCEPTED)} accepted</span>" if result.count(Status.ACCEPTED) else "")
              + f"<span>{_e(result.requests_sent)} requests · {result.duration_s:.1f} s</span>")
    findings = "".join(_finding(i, f, _finding_id(result, i)) for i, f in enumerate(result.findings)) or '<p class="muted">No findings.</p>'
    failed = [r.id for r in result.rules if r.status == Status.FAILED]
    failed_line = (
        "<p>Failed: " + ", ".join(f'<a href="#finding-{_e(rule_id)}"><code>{_e(rule_id)}</code></a>' for rule_id in failed) + "</p>"
        if failed else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>migma-contract: {_e(result.verdict)} — {_e(result.target.label)}</title>
<style>{CSS}</style></head>
<body><main>
<section class="verdict {_e(result.verdict)}">
<h1>{_e(result.headline)}</h1>
<p>POST /v1/sending · level <b>{_e(result.level)}</b> · {passed}/{exercised} exercised rules passed</p>
{failed_line}
<div class="counts">{counts}</div>
</section>
{_warnings(result)}
{_root_causes(result)}
<h2>Rules</h2>
{_rules(result)}
<h2>Findings ({len(result.findings)})</h2>
{findings}
<h2>Run</h2>
{_meta(result)}
<footer>Generated by migma-contract {_e(result.tool_version)}. Keys are shown as [REDACTED]; curl lines read them from ${ENV_PREFIX}API_KEY / ${ENV_PREFIX}RESTRICTED_API_KEY.</footer>
</main><script>{JS}</script></body></html>
"""
