"""The report's sections, in order. Each takes the report data (a dict) and returns HTML."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd

RATIO = {"RR", "OR", "HR"}


# ----------------------------------------------------------------------------- helpers
def esc(x) -> str:
    """HTML-escaped text of a cell; missing is empty, whole-number floats (counts, PMIDs) print as integers."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return html.escape(str(x))


def num(x, digits: int = 2) -> str:
    if x is None or x is pd.NA:
        return ""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return esc(x)
    return "" if math.isnan(x) else f"{x:.{digits}f}"


def ci(row, lb="ci_lb", ub="ci_ub", digits: int = 2) -> str:
    if pd.isna(row.get(lb)) or pd.isna(row.get(ub)):
        return ""
    return f"{num(row[lb], digits)} to {num(row[ub], digits)}"


def table(df: pd.DataFrame, columns: dict[str, str], numeric: set[str] = frozenset()) -> str:
    """An HTML table of ``df`` with ``columns`` = {column: header}."""
    if df.empty:
        return "<p><em>None.</em></p>"
    head = "".join(f"<th>{esc(h)}</th>" for h in columns.values())
    rows = []
    for _, r in df.iterrows():
        cells = "".join(
            f'<td class="num">{esc(r[c])}</td>' if c in numeric else f"<td>{esc(r[c])}</td>" for c in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def inline_svg(path: Path, caption: str) -> str:
    """An SVG file inlined in a <figure> (XML declaration and DOCTYPE removed)."""
    if not path.is_file():
        return f'<p class="note">Figure {esc(path.name)} was not produced.</p>'
    svg = path.read_text(encoding="utf-8")
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.S)
    return f'<figure data-figure="{esc(path.stem)}">{svg.strip()}<figcaption>{esc(caption)}</figcaption></figure>'


def _fmt_pooled(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    digits = out.measure.map(lambda m: 2)
    out["est"] = [num(v, d) for v, d in zip(out.estimate, digits)]
    out["ci"] = [ci(r) for _, r in out.iterrows()]
    out["pi"] = [ci(r, "pi_lb", "pi_ub") for _, r in out.iterrows()]
    out["i2"] = out.I2.map(lambda v: num(v, 0))
    out["tau2_"] = out.tau2.map(lambda v: num(v, 3))
    out["p"] = out.pval.map(lambda v: num(v, 3))
    out["pooled_"] = out.pooled.map(lambda v: "yes" if str(v) == "True" else "no")
    return out


def pooled_cols(data) -> dict:
    ci_, pi_ = data["plan"].level_label, data["plan"].level_label.replace("CI", "PI")
    return {"window_label": "Time", "k": "k", "n_studies": "Studies", "participants": "Participants (reported)",
            "est": "Estimate", "ci": ci_, "pi": pi_, "i2": "I² (%)", "tau2_": "τ²", "p": "p",
            "reason": "Not pooled because"}


POOLED_NUM = {"k", "n_studies", "participants", "est", "i2", "tau2_", "p"}


def _analysis_label(spec) -> str:
    return f"{spec.id} — {spec.outcome}, {spec.measure}, {spec.method}, test {spec.test}" + (
        f", time from {spec.timepoint_ref.replace('_', ' ')}" if spec.timepoint_ref else "")


def _primary(pooled: pd.DataFrame, analysis_id: str) -> pd.DataFrame:
    p = pooled[(pooled.analysis_id == analysis_id) & (pooled.variant == "primary")]
    return p.sort_values("hours_nominal", kind="mergesort")


def _forest_figures(data, analysis_id: str) -> str:
    forest_dir = Path(data["figures"]) / "forest"
    figs = sorted(forest_dir.glob(f"{analysis_id}__*.svg")) if forest_dir.is_dir() else []
    if not figs:
        return ""
    inner = "\n".join(inline_svg(f, f"Forest plot: {f.stem.replace('__', ', ')}") for f in figs)
    return f"<details><summary>Forest plots ({len(figs)})</summary>{inner}</details>"


# ----------------------------------------------------------------------------- sections
def search_section(data) -> str:
    s, cfg, v = data["search"], data["config"], data["versions"]
    mode = cfg["pubmed"]["mode"]
    ranges = s.get("date_ranges") or []
    limits = "; ".join(f"{r.get('mindate') or 'any'} to {r.get('maxdate') or 'any'}"
                       + (f" ({r['count']} records)" if r.get("count") is not None else "") for r in ranges)
    parts = s.get("parts") or []
    rows = [("Mode", mode), ("Query", s.get("query", "")), ("Records (distinct PMIDs)", s.get("count", "")),
            ("Date limits" + (f" ({s.get('datetype')})" if s.get("datetype") else ""), limits or "none"),
            ("Searched in parts", f"{len(parts)} date-range parts (ESearch returns at most "
                                  f"{s.get('esearch_limit', 10000)} ids per request)" if s.get("split") else "no"),
            ("Snapshot / retrieval date", s.get("retrieval_date", "")),
            ("Estimator", f"{data['plan'].method}, test {data['plan'].model_test}, level {data['plan'].level:g}% "
                          "(plan defaults; each analysis below names its own estimator and test)")]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(val)}</td></tr>" for k, val in rows)
    soft = ", ".join(f"{esc(k)} {esc(val)}" for k, val in v.items())
    return (f"<h2 id='search'>1. What was searched, when and how</h2><table>{body}</table>"
            f"<p>Software: {soft}. Statistics follow R's metafor definitions (tested against metafor "
            f"reference values). Every extracted number carries its source in "
            f"<code>data/raw/extraction</code>.</p>")


def status_banner(data) -> str:
    """A banner when anything awaits screening or extraction: the pooled results are then provisional."""
    p, st = data["prisma"], data["study_status"]
    awaiting_records = int(p.get("awaiting_assessment") or 0)
    awaiting_extraction = list(p.get("awaiting_extraction") or [])
    awaiting_studies = st[st.status == "awaiting"].study_id.tolist()
    if not (awaiting_records or awaiting_extraction or awaiting_studies):
        return ""
    parts = []
    if awaiting_records:
        parts.append(f"{awaiting_records} record(s) await a screening decision")
    if awaiting_studies:
        parts.append(f"{len(awaiting_studies)} extracted stud(y/ies) await(s) a decision on its record "
                     f"({', '.join(awaiting_studies)})")
    if awaiting_extraction:
        parts.append(f"{len(awaiting_extraction)} included stud(y/ies) await(s) extraction "
                     f"({', '.join(awaiting_extraction)})")
    return (f"<p class='note' id='provisional'><strong>Provisional results.</strong> {esc('; '.join(parts))}. "
            "The pooled estimates below may change when they are screened and extracted.</p>")


def prisma_section(data) -> str:
    p = data["prisma"]
    reasons = lambda d: ", ".join(f"{esc(k)}: {v}" for k, v in d.items()) or "none"  # noqa: E731
    idents = p.get("other_methods_identifiers") or {}
    other = ", ".join(f"{sid} ({idents.get(sid, '')})" for sid in p.get("other_methods_studies", []))
    items = [
        ("Records identified", f"{p['identified_total']} ({', '.join(f'{k}: {v}' for k, v in p['identified'].items())})"),
        ("Duplicates removed", p["duplicates_removed"]),
        ("Records screened", p["screened"]),
        ("Excluded at screening", f"{p['excluded_screening']} ({reasons(p['excluded_screening_reasons'])})"),
        ("Reports assessed for eligibility", p["assessed_eligibility"]),
        ("Excluded at eligibility", f"{p['excluded_eligibility']} ({reasons(p['excluded_eligibility_reasons'])})"),
        ("Awaiting classification (no screening decision)", p["awaiting_assessment"]),
        ("Reports included", p["included_reports"]),
        ("Studies included via the search", p["included_studies"]),
        ("Studies identified outside the search", f"{len(p.get('other_methods_studies', []))} ({other})"),
        ("Studies included in total", p.get("included_studies_total", p["included_studies"])),
        ("Included, awaiting extraction", ", ".join(p.get("awaiting_extraction") or []) or "none"),
        ("Decisions whose record the search did not return (PMID)",
         ", ".join(str(x) for x in p.get("decisions_without_record") or []) or "none"),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return (f"<h2 id='prisma'>2. Study selection (PRISMA 2020)</h2>"
            f"{inline_svg(Path(data['figures']) / 'prisma.svg', 'PRISMA 2020 flow diagram')}<table>{body}</table>")


def studies_section(data) -> str:
    st = data["studies"]
    cols = {"study_id": "Study", "pmid": "PMID", "design": "Design", "population": "Population", "drug": "Drug",
            "route": "Route", "comparator": "Comparator", "n_randomized": "Randomized", "rob_overall": "RoB 2 overall"}
    return (f"<h2 id='studies'>3. Included studies ({len(st)})</h2>{table(st, cols, {'n_randomized'})}"
            f"<h3>Risk of bias (RoB 2)</h3>"
            f"{inline_svg(Path(data['figures']) / 'risk_of_bias.svg', 'Risk-of-bias summary by RoB 2 domain')}")


def onset_section(data) -> str:
    plan, pooled = data["plan"], data["pooled"]
    parts = ["<h2 id='onset'>4. Onset: how soon does the effect appear?</h2>",
             inline_svg(Path(data["figures"]) / "onset.svg",
                        f"Pooled effect by time since the first dose (log time axis), with {plan.level_label} band; "
                        "points are studies, sized by weight.")]
    for spec in [a for a in plan.analyses if a.question == "onset"]:
        tc = data["onset"].get(spec.id, {})
        earliest = tc.get("earliest")
        if earliest:
            share = ", ".join(f"{esc(k)} {v:.0%}" for k, v in earliest["bootstrap_share"].items() if v > 0)
            parts.append(f"<p class='key'><strong>{esc(spec.id)}</strong>: the earliest time at which the pooled "
                         f"effect is distinguishable from control is <strong>{esc(earliest['label'])}</strong>. "
                         f"Uncertainty (study bootstrap, B = {earliest['B']}): share of resamples in which each "
                         f"window is the earliest — {share}.</p>")
        else:
            parts.append(f"<p class='key'><strong>{esc(spec.id)}</strong>: no time window shows a pooled effect "
                         f"distinguishable from control.</p>")
        parts.append(f"<h3>{esc(_analysis_label(spec))}</h3>")
        parts.append(table(_fmt_pooled(_primary(pooled, spec.id)), pooled_cols(data), POOLED_NUM))
        parts.append(_time_course_model(tc.get("multilevel") or {}, plan.level_label))
        parts.append(_subgroups(pooled, spec.id, plan.level_label))
        parts.append(_forest_figures(data, spec.id))
    return "\n".join(parts)


def _time_course_model(ml: dict, ci_label: str) -> str:
    """The multilevel time-course model (all windows at once, time points nested in trials)."""
    if not ml.get("fitted"):
        return f"<p>Time-course model (all windows, time points nested in trials): not fitted — {esc(ml.get('reason', 'no data'))}.</p>"
    rows = pd.DataFrame(ml["windows"])
    rows["est"] = rows.estimate.map(num)
    rows["ci"] = [ci(r) for _, r in rows.iterrows()]
    earliest = ml.get("earliest")
    lead = (f"earliest window whose CI excludes no effect: <strong>{esc(earliest)}</strong>" if earliest
            else "no window's CI excludes no effect")
    return (f"<details><summary>Time-course model: {esc(ml['model'])}; k = {ml['k']} estimates from "
            f"{ml['n_studies']} trials; σ² (trial, time point) = {num(ml['sigma2'][0], 3)}, "
            f"{num(ml['sigma2'][1], 3)}; {lead}</summary>"
            + table(rows, {"label": "Time", "k": "Estimates", "n_studies": "Trials", "est": "Estimate",
                           "ci": ci_label}, {"k", "n_studies", "est"}) + "</details>")


def _subgroups(pooled: pd.DataFrame, analysis_id: str, ci_label: str) -> str:
    sub = pooled[(pooled.analysis_id == analysis_id) & (pooled.variant == "subgroup")]
    if sub.empty:
        return ""
    sub = _fmt_pooled(sub.sort_values(["hours_nominal", "subgroup_var", "subgroup_level"], kind="mergesort"))
    sub["test"] = [f"Q = {num(q)}, df = {esc(d)}, p = {num(p, 3)}" if pd.notna(q) else ""
                   for q, d, p in zip(sub.subgroup_Q, sub.subgroup_df, sub.subgroup_p)]
    cols = {"window_label": "Time", "subgroup_var": "Subgroup", "subgroup_level": "Level", "k": "k",
            "est": "Estimate", "ci": ci_label, "i2": "I² (%)", "test": "Test for subgroup differences",
            "reason": "Not pooled because"}
    return f"<details><summary>Subgroup analyses</summary>{table(sub, cols, {'k', 'est', 'i2'})}</details>"


def duration_section(data) -> str:
    """Duration by regimen: the latest window still distinguishable from control, its uncertainty, where data stop.

    Built from ``duration_timecourse.json`` (:mod:`evsynth.analyses.duration`): one answer after a
    single dose and one after the end of a course, never pooled together; then the relapse hazard
    ratios, the uncontrolled follow-ups (descriptive) and the plan's ``pooled.csv`` rows.
    """
    plan, pooled = data["plan"], data["pooled"]
    doc = data.get("duration") or {}
    parts = ["<h2 id='duration'>5. Response duration: how long does it last?</h2>",
             inline_svg(Path(data["figures"]) / "duration.svg",
                        f"Pooled effect by time since the last dose (log time axis), after a single dose and after "
                        f"the end of a course in separate panels, with {plan.level_label} band; points are studies, "
                        f"sized by weight (hollow: window not pooled). Right: relapse hazard ratios."),
             ("<p>A single dose's follow-up is its time since the last dose; a course contributes only results "
              "timed from its last dose. The two regimens are analysed apart. The answer is the <em>latest</em> "
              f"window from 24 h on whose pooled {plan.level_label} excludes no effect on the side favouring the "
              "drug, with a study bootstrap and the multilevel time-course model as its uncertainty.</p>")]
    for spec in [a for a in plan.analyses if a.question == "duration"]:
        prim = _primary(pooled, spec.id)
        if spec.measure == "HR":
            parts.append(f"<h3>{esc(_analysis_label(spec))}</h3>")
            w = data["weights"][data["weights"].analysis_id == spec.id].copy()
            w["est"] = w.estimate.map(num)
            w["ci"] = [ci(r) for _, r in w.iterrows()]
            parts.append(table(w, {"label": "Study (stratum)", "est": "Hazard ratio", "ci": plan.level_label},
                               {"est"}))
            parts.append(table(_fmt_pooled(prim), pooled_cols(data), POOLED_NUM))
            parts.append(_forest_figures(data, spec.id))
            continue
        entry = doc.get("analyses", {}).get(spec.id)
        parts.append(f"<h3>{esc(_analysis_label(spec))}</h3>")
        if entry is None:
            parts.append(f"<p class='key'><strong>{esc(spec.id)}</strong>: no duration time course was computed "
                         "(the duration_timecourse document has no entry for this analysis).</p>")
        else:
            order = ["single", "repeated"] + sorted(set(entry["regimens"]) - {"single", "repeated"})
            courses = [entry["regimens"][r] for r in order if r in entry["regimens"]]
            parts += [_duration_answer(spec, course, entry, plan.level_label) for course in courses]
            parts += [_duration_windows(course, data) for course in courses]
        parts.append(f"<details><summary>Rows of this analysis in pooled.csv (all regimens in one model; they feed "
                     f"the sensitivity and GRADE tables, not the duration answer above)</summary>"
                     f"{table(_fmt_pooled(prim), pooled_cols(data), POOLED_NUM)}"
                     f"{_subgroups(pooled, spec.id, plan.level_label)}</details>")
        parts.append(_forest_figures(data, spec.id))
    parts.append(_duration_uncontrolled(doc.get("uncontrolled")))
    return "\n".join(parts)


def _duration_when(course_label: str) -> str:
    return course_label[:1].upper() + course_label[1:]


def _duration_answer(spec, course: dict, entry: dict, ci_label: str) -> str:
    """The key sentence for one regimen: latest distinguishable window or exactly why there is none."""
    who = f"<strong>{esc(_duration_when(course.get('label', course.get('regimen', ''))))}</strong>"
    latest = course.get("latest")
    if latest:
        lead = (f"{who}: the latest window at which the pooled effect is still distinguishable from control is "
                f"<strong>{esc(latest['label'])}</strong> ({esc(spec.measure)} {num(latest['estimate'])}, "
                f"{esc(ci_label)} {num(latest['ci_lb'])} to {num(latest['ci_ub'])}; {latest['n_studies']} trials: "
                f"{esc(str(latest['studies']).replace('|', ', '))}).")
    else:
        lead = f"{who}: no window is distinguishable from control — {esc(course.get('why', ''))}."
    boot = course.get("bootstrap")
    if boot:
        share = ", ".join(f"{esc(k)} {v:.0%}" for k, v in boot["share"].items() if v > 0)
        lead += (f" Study bootstrap (B = {boot['B']}, seed {boot['seed']}): share of resamples in which each window "
                 f"is the latest distinguishable one — {share}.")
    else:
        lead += " Study bootstrap: not run (no window was pooled)."
    ml = course.get("multilevel") or {}
    if ml.get("fitted"):
        hit = ml.get("latest")
        lab = next((w["label"] for w in ml["windows"] if w["window"] == hit), hit)
        lead += (f" Multilevel time-course model ({esc(ml['method'])}, test {esc(ml['test'])}; {ml['k']} estimates "
                 f"from {ml['n_studies']} trials): "
                 + (f"latest window whose {esc(ci_label)} excludes no effect: <strong>{esc(lab)}</strong>."
                    if hit else f"no window with {entry.get('min_k')} trials has a {esc(ci_label)} excluding no "
                                f"effect."))
        if not ml.get("converged", True):
            lead += " The model did not converge."
    else:
        lead += f" Multilevel time-course model: not fitted — {esc(ml.get('reason', 'no data'))}."
    end = course.get("data_end") or {}
    anyw, enough = end.get("last_window_any"), end.get("last_window_min_k")
    if anyw:
        stop = (f" Where the data stop: the last window with any controlled result is {esc(anyw['label'])} "
                f"({esc(str(anyw['studies']).replace('|', ', '))})")
        stop += (f"; the last with ≥ {entry.get('min_k')} trials is {esc(enough['label'])} "
                 f"({esc(str(enough['studies']).replace('|', ', '))})" if enough
                 else f"; no window has ≥ {entry.get('min_k')} trials")
        if end.get("last_hours") is not None:
            h = float(end["last_hours"])
            stop += (f"; the latest controlled time point is {f'day {h / 24:g}' if h >= 48 else f'{h:g} h'} "
                     f"({esc(', '.join(end.get('last_hours_studies', [])))}).")
        lead += stop
    else:
        lead += " There is no controlled result in any window from 24 h on."
    return f"<p class='key'>{lead}</p>"


def _duration_windows(course: dict, data) -> str:
    rows = pd.DataFrame(course.get("windows", []))
    if rows.empty:
        return ""
    rows["est"] = rows.estimate.map(num)
    rows["ci_"] = [ci(r) for _, r in rows.iterrows()]
    rows["pi_"] = [ci(r, "pi_lb", "pi_ub") for _, r in rows.iterrows()]
    rows["studies_"] = rows.studies.map(lambda x: str(x).replace("|", ", "))
    label = data["plan"].level_label
    cols = {"label": "Time since last dose", "k": "k", "n_studies": "Trials", "studies_": "Studies",
            "participants": "Participants", "est": "Estimate", "ci_": label, "pi_": label.replace("CI", "PI"),
            "reason": "Not pooled because"}
    out = table(rows, cols, {"k", "n_studies", "participants", "est"})
    ml = course.get("multilevel") or {}
    if ml.get("fitted"):
        mlr = pd.DataFrame(ml["windows"])
        mlr["est"] = mlr.estimate.map(num)
        mlr["ci_"] = [ci(r) for _, r in mlr.iterrows()]
        out += (f"<p>Multilevel time-course model: {esc(ml['model'])}; σ² (trial, time point) = "
                f"{num(ml['sigma2'][0], 3)}, {num(ml['sigma2'][1], 3)}"
                + (f"; warnings: {esc('; '.join(ml['warnings']))}" if ml.get("warnings") else "") + ".</p>"
                + table(mlr, {"label": "Time since last dose", "k": "Estimates", "n_studies": "Trials",
                              "est": "Estimate", "ci_": label}, {"k", "n_studies", "est"}))
    return f"<details><summary>{esc(_duration_when(course.get('label', '')))}: every window</summary>{out}</details>"


def _duration_uncontrolled(unc: dict | None) -> str:
    """Uncontrolled follow-ups: a descriptive table, never pooled (or why it is empty)."""
    head = "<h3>Uncontrolled follow-ups (descriptive; never pooled with controlled contrasts)</h3>"
    if not unc:
        return head + "<p>Not computed.</p>"
    rows = pd.DataFrame(unc.get("rows", []))
    if rows.empty:
        return head + (f"<p>None: {esc(unc.get('note', ''))}. Uncontrolled follow-ups that were read but could not "
                       "be entered (percentages without counts or denominators) are listed with the reason in "
                       "<code>data/raw/extraction/notes/</code>.</p>")
    rows["time"] = [f"{esc(t)} {esc(u)} ({esc(str(r).replace('_', ' '))})"
                    for t, u, r in zip(rows.timepoint, rows.timepoint_unit, rows.timepoint_ref)]
    rows["result"] = [f"{esc(e)}/{esc(n)} ({num(100 * s, 1)}%)" if pd.notna(s) else
                      (f"mean {num(m)} (SD {num(sd)})" if pd.notna(m) else "")
                      for e, n, s, m, sd in zip(rows.events, rows.n, rows.share, rows["mean"], rows.sd)]
    cols = {"study_id": "Study", "arm_id": "Arm", "drug": "Drug", "regimen": "Regimen", "outcome": "Outcome",
            "stratum": "Stratum", "time": "Time", "result": "Result as reported", "source": "Source"}
    return head + table(rows, cols)


def side_effects_section(data) -> str:
    se = data["side_effects"].copy()
    parts = ["<h2 id='side-effects'>6. Side-effect rates</h2>",
             inline_svg(Path(data["figures"]) / "side_effects.svg",
                        "Pooled incidence per adverse-event term (logit random effects), ketamine and "
                        "esketamine apart, and risk ratios against control.")]
    if se.empty:
        return "\n".join(parts + ["<p><em>No adverse-event data.</em></p>"])
    se["inc"] = [f"{num(100 * v, 1)}% ({num(100 * lo, 1)} to {num(100 * hi, 1)})" if pd.notna(v) else ""
                 for v, lo, hi in zip(se.incidence, se.incidence_ci_lb, se.incidence_ci_ub)]
    se["raw"] = [f"{int(e)}/{int(n)}" for e, n in zip(se.events_exp, se.participants_exp)]
    se["rr_"] = [f"{num(r)} ({num(lo)} to {num(hi)})" if pd.notna(r) else "" for r, lo, hi in
                 zip(se.rr, se.rr_ci_lb, se.rr_ci_ub)]
    se["rd_"] = [f"{num(r, 3)} ({num(lo, 3)} to {num(hi, 3)})" if pd.notna(r) else "" for r, lo, hi in
                 zip(se.rd, se.rd_ci_lb, se.rd_ci_ub)]
    cols = {"event": "Term", "drug": "Drug", "k_arms": "Arms", "raw": "Events / n",
            "inc": f"Incidence ({data['plan'].level_label})",
            "k": "Controlled studies", "rr_": "RR vs control", "rd_": "RD vs control", "reason": "Note"}
    pooled = se[se.pooled.astype(str) == "True"]
    listed = se[se.pooled.astype(str) != "True"]
    other = data["side_effects_other"]
    other_cols = {"study_id": "Study", "drug": "Drug", "reported_term": "Reported term", "events": "Events",
                  "n": "n (drug arms)", "also_mapped_elsewhere": "Mapped to a controlled term elsewhere"}
    return "\n".join(parts + [table(pooled, cols, {"k_arms", "k"}),
                              f"<details><summary>Terms listed, not pooled ({len(listed)})</summary>"
                              f"{table(listed, cols, {'k_arms', 'k'})}</details>",
                              f"<details><summary>Reported terms mapped to 'other' ({len(other)} per trial; never "
                              f"pooled)</summary>{table(other, other_cols, {'events', 'n'})}</details>"])


def sensitivity_section(data) -> str:
    pooled = data["pooled"]
    sens = pooled[~pooled.variant.isin(["primary", "subgroup"])]
    prim = pooled[pooled.variant == "primary"]
    keys = sens[["analysis_id", "window"]].drop_duplicates()
    both = pd.concat([prim.merge(keys, on=["analysis_id", "window"]), sens])
    both = _fmt_pooled(both.sort_values(["analysis_id", "hours_nominal", "variant"], kind="mergesort"))
    cols = {"analysis_id": "Analysis", "window_label": "Time", "variant": "Variant", "omitted_study": "Omitted",
            "k": "k", "est": "Estimate", "ci": data["plan"].level_label, "i2": "I² (%)",
            "reason": "Not pooled because"}
    return (f"<h2 id='sensitivity'>7. Sensitivity analyses</h2><p>Crossover correlation range, first-period-only "
            f"data, excluding high risk-of-bias studies, end-of-period scores only, reported standardized effects "
            f"left out, fixed-effect model, leave-one-study-out. A variant that cannot change the result says why "
            f"instead of repeating the primary estimate.</p>"
            f"{table(both, cols, {'k', 'est', 'i2'})}")


def sof_section(data) -> str:
    sof = data["sof"].copy()
    from evsynth.analyses.grade import __doc__ as rules

    if not sof.empty:
        sof["est"] = [f"{num(e)} ({num(lo)} to {num(hi)})" for e, lo, hi in zip(sof.estimate, sof.ci_lb, sof.ci_ub)]
    cols = {"analysis_id": "Analysis", "outcome": "Outcome", "window_label": "Time / drug", "measure": "Measure",
            "k": "k", "participants": "Participants", "est": f"Estimate ({data['plan'].level_label})",
            "certainty": "Certainty",
            "reasons": "Downgraded for"}
    rule_text = esc(rules.split("\n\n", 1)[1]) if rules else ""
    return (f"<h2 id='sof'>9. Summary of findings (GRADE-style)</h2>{table(sof, cols, {'k', 'participants'})}"
            f"<details><summary>Downgrading rules</summary><pre>{rule_text}</pre></details>"
            f"<h3>Small-study effects</h3>"
            + table(data["bias"], {"analysis_id": "Analysis", "window": "Time", "k": "k", "egger_z": "Egger z",
                                   "egger_p": "Egger p", "trimfill_k0": "Trim-and-fill k0"}, {"k"}))


def gaps_section(data) -> str:
    pooled, nc = data["pooled"], data["not_computed"]
    not_pooled = pooled[(pooled.pooled.astype(str) != "True") & (pooled.variant == "primary")]
    studies = set(data["studies"].study_id)
    analysed = pd.concat([pooled.loc[pooled.pooled.astype(str) == "True", "studies"],
                          data["side_effects"].get("rr_studies", pd.Series(dtype=str)),
                          data["side_effects"].loc[data["side_effects"].pooled.astype(str) == "True", "studies"]])
    used = {sid for cell in analysed.dropna() for sid in str(cell).split("|") if sid}
    unused = sorted(studies - used)
    return (f"<h2 id='gaps'>11. What the data could not answer</h2>"
            f"<p>Numbers not reported are left empty and stay out of the analyses that need them; nothing is "
            f"imputed.</p><h3>Analyses not pooled ({len(not_pooled)})</h3>"
            + table(not_pooled, {"analysis_id": "Analysis", "window_label": "Time", "k": "k",
                                 "studies": "Studies", "reason": "Reason"}, {"k"})
            + f"<h3>Extracted results that could not be turned into effect sizes ({len(nc)})</h3>"
            + table(nc, {"study_id": "Study", "arm_id": "Arm", "outcome": "Outcome", "timepoint": "Time",
                         "timepoint_unit": "Unit", "reason": "Reason", "source": "Source"})
            + f"<h3>Included studies in no pooled result ({len(unused)})</h3><p>{esc(', '.join(unused))}</p>"
            + _excluded_studies(data)
            + "<p>Their numbers are in <code>effects.csv</code> (or only design facts were reported); they enter "
              "no analysis because no other study shares their outcome, time window and comparator, or the "
              "comparator is active (ECT, quetiapine).</p>")


def benchmarks_section(data) -> str:
    """Our estimates beside published meta-analyses (:func:`evsynth.analyses.benchmarks.report_section`)."""
    from evsynth.analyses.benchmarks import report_section

    return report_section(data["benchmarks"], data["plan"].level, Path(data["figures"]) / "benchmarks.svg")


def _excluded_studies(data) -> str:
    """Extracted studies that screening excluded (or that await a decision): in no result, with the reason."""
    st = data["study_status"]
    out = st[st.status != "included"]
    return (f"<h3>Extracted studies excluded at screening or awaiting a decision ({len(out)})</h3>"
            "<p>They appear in no effect size, pooled result, figure or export.</p>"
            + table(out, {"study_id": "Study", "status": "Status", "reason": "Reason", "pmids": "PMIDs"}))


def _pct(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.0f}%"


def multiverse_section(data) -> str:
    """How robust is each answer? Per multiverse: the share of specifications agreeing, the spread,
    the factors that move the estimate most, and the null-curve test (:mod:`evsynth.analyses.multiverse`)."""
    summary = (data.get("multiverse_summary") or {}).get("multiverses", [])
    head = "<h2 id='multiverse'>8. How robust is each answer?</h2>"
    if not summary:
        return head + "<p>No multiverse was requested (<code>analysis.multiverse.analyses</code> is empty).</p>"
    ci_label = data["plan"].level_label
    rows = []
    for m in summary:
        prim = m.get("primary") or {}
        null = m.get("null_test") or {}
        movers = "; ".join(f"{f['factor'].replace('_', ' ')} ({num(f['range'], 3)})"
                           for f in m.get("influence", [])[:3] if f["range"] > 0) or "none"
        if null.get("applies"):
            how = "all" if null.get("exact") else "random"
            test = (f"median p = {num(null['p_median'], 3)}, share p = {num(null['p_share'], 3)} "
                    f"({how} {null['draws']} sign patterns, {null['specs']} specifications, {null['studies']} studies)")
        else:
            test = f"not applicable: {null.get('why', 'nothing pooled')}"
        rows.append({
            "analysis_id": m["analysis_id"], "window": m["window"], "split": m["split"],
            "n": f"{m.get('n_specs', 0):,} ({m.get('n_pooled', 0):,} pooled)",
            "primary": (f"{num(prim.get('estimate'))} ({num(prim.get('ci_lb'))} to {num(prim.get('ci_ub'))})"
                        if prim else "not in this multiverse"),
            "same": _pct(m.get("share_same_direction")), "excl": _pct(m.get("share_ci_excludes_null")),
            "median": (f"{num(m.get('median'))} ({num(m.get('min'))} to {num(m.get('max'))})"
                       if m.get("n_pooled") else ""),
            "movers": movers, "test": test})
    cols = {"analysis_id": "Analysis", "window": "Time", "split": "Multiverse", "n": "Specifications",
            "primary": f"Primary estimate ({ci_label})", "same": "Same direction as primary",
            "excl": f"{ci_label} excludes no effect", "median": "Median (range) of estimates",
            "movers": "Factors that move it most (range of level medians, model scale)",
            "test": "Whole curve under the null"}
    figures = "".join(
        inline_svg(Path(data["figures"]) / f"specification_curve_{aid}.svg",
                   f"Specification curve, {aid}: every specification's estimate with its {ci_label}, sorted; "
                   f"the choices underneath; the primary specification in orange")
        for aid in dict.fromkeys(m["analysis_id"] for m in summary))
    return (head + "<p>Every headline rests on choices: the τ² estimator, the test, the crossover correlation, "
            "first periods only, which depression scale a trial contributes, the comparators, trials at high "
            "risk of bias, numbers read from secondary sources, the window edges and which studies enter. The "
            "multiverse fits every combination of the levels in <code>analysis.multiverse</code> (equivalent "
            "choices vary within a multiverse; a split variable gives separate multiverses per level). The null "
            "test gives each study's effects a random sign (under no effect either sign is as likely), refits "
            "the whole curve, and compares the median estimate and the share of specifications significant in "
            "the dominant direction with their null distributions (Simonsohn, Simmons &amp; Nelson 2020); with "
            "n studies there are only 2<sup>n</sup> sign patterns, all of them used when few, so with two "
            "studies the smallest possible p is 0.5.</p>"
            + table(pd.DataFrame(rows), cols) + figures)


SECTIONS = [status_banner, search_section, prisma_section, studies_section, onset_section, duration_section,
            side_effects_section, sensitivity_section, multiverse_section, sof_section, benchmarks_section,
            gaps_section]
