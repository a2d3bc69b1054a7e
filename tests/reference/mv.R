# Reference values for evsynth.pooling.multilevel.rma_mv from R's metafor.
# Usage: Rscript tests/reference/mv.R tests/reference
# Writes mv.json: three-level models rma.mv(yi, vi, random = ~ 1 | study/effect) by REML and ML.
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"

ctrl <- list(rel.tol = 1e-12, iter.max = 10000, eval.max = 10000)
num <- function(x) as.numeric(unname(x))

# Tight nlminb tolerance first; where nlminb reports non-convergence (variance component at the
# zero boundary, which metafor's log parameterisation can only approach), fall back to the default
# control and record which one was used.
fit_one <- function(d, meth, tst, lvl) {
  r <- try(rma.mv(yi, vi, random = ~ 1 | study/effect, data = d, method = meth, test = tst,
                  level = lvl, control = ctrl), silent = TRUE)
  txt <- "list(rel.tol=1e-12, iter.max=10000, eval.max=10000)"
  if (inherits(r, "try-error")) {
    r <- try(rma.mv(yi, vi, random = ~ 1 | study/effect, data = d, method = meth, test = tst,
                    level = lvl, control = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14)),
             silent = TRUE)
    txt <- "list(optimizer='optim', optmethod='BFGS', reltol=1e-14) [nlminb with rel.tol=1e-12 did not converge]"
  }
  if (inherits(r, "try-error")) {
    r <- rma.mv(yi, vi, random = ~ 1 | study/effect, data = d, method = meth, test = tst, level = lvl)
    txt <- "list() [default; nlminb rel.tol=1e-12 and optim BFGS reltol=1e-14 did not converge]"
  }
  list(r = r, ctrl_txt = txt)
}

fit_case <- function(name, note, study, effect, yi, vi, fix = NULL) {
  d <- data.frame(study = study, effect = effect, yi = yi, vi = vi)
  fits <- list()
  for (meth in c("REML", "ML")) {
    for (tst in c("z", "t")) {
      ft <- fit_one(d, meth, tst, 95)
      r <- ft$r
      fits[[length(fits) + 1]] <- list(
        call = sprintf("rma.mv(yi, vi, random = ~ 1 | study/effect, method='%s', test='%s', control=%s)",
                       meth, tst, ft$ctrl_txt),
        method = meth, test = tst,
        sigma2 = num(r$sigma2), beta = num(r$beta), se = num(r$se), zval = num(r$zval),
        pval = num(r$pval), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), QE = num(r$QE),
        QEp = num(r$QEp), k = r$k, s_nlevels = num(r$s.nlevels), logLik = num(logLik(r)),
        ddf = num(r$ddf))
    }
  }
  lvl90 <- fit_one(d, "REML", "z", 90)$r
  # Boundary cases: the same model with the boundary component fixed at 0 (metafor's sigma2 = c(0, NA)
  # or c(NA, 0)), so the free component is estimated without the log-scale boundary approximation.
  fixed <- list()
  if (!is.null(fix)) {
    for (meth in c("REML", "ML")) {
      r <- try(rma.mv(yi, vi, random = ~ 1 | study/effect, data = d, method = meth, sigma2 = fix, control = ctrl), silent = TRUE)
      ctxt <- "list(rel.tol=1e-12, iter.max=10000, eval.max=10000)"
      if (inherits(r, "try-error")) {
        r <- rma.mv(yi, vi, random = ~ 1 | study/effect, data = d, method = meth, sigma2 = fix,
                    control = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14))
        ctxt <- "list(optimizer='optim', optmethod='BFGS', reltol=1e-14) [nlminb with rel.tol=1e-12 did not converge]"
      }
      fixed[[length(fixed) + 1]] <- list(
        call = sprintf("rma.mv(yi, vi, random = ~ 1 | study/effect, method='%s', sigma2=c(%s), control=%s)",
                       meth, paste(ifelse(is.na(fix), "NA", fix), collapse = ", "), ctxt),
        method = meth, sigma2 = num(r$sigma2), beta = num(r$beta), se = num(r$se), zval = num(r$zval),
        pval = num(r$pval), ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), logLik = num(logLik(r)))
    }
  }
  list(name = name, note = note,
       data = list(study = study, effect = effect, yi = yi, vi = vi),
       fits = fits, fixed_at_boundary = fixed,
       level90 = list(call = "rma.mv(yi, vi, random = ~ 1 | study/effect, method='REML', level=90, control=...)",
                      ci_lb = num(lvl90$ci.lb), ci_ub = num(lvl90$ci.ub)))
}

cases <- list()
k <- dat.konstantopoulos2011
cases[[1]] <- fit_case("konstantopoulos2011", "metadat dat.konstantopoulos2011: study = district, effect = school",
                       k$district, k$school, k$yi, k$vi)
a <- dat.assink2016
cases[[2]] <- fit_case("assink2016", "metadat dat.assink2016: study = study, effect = esid",
                       a$study, a$esid, a$yi, a$vi)
# hand-made: effects within a study nearly identical -> within-study variance at the zero boundary
cases[[3]] <- fit_case("within_zero", "hand-made: no within-study heterogeneity",
                       c(1, 1, 2, 2, 3, 3, 4, 4, 5),
                       c(1, 2, 1, 2, 1, 2, 1, 2, 1),
                       c(0.10, 0.11, 0.52, 0.50, -0.20, -0.21, 0.33, 0.35, 0.80),
                       c(0.04, 0.05, 0.03, 0.06, 0.05, 0.04, 0.02, 0.03, 0.05), fix = c(NA, 0))
# hand-made: studies agree, effects vary within studies -> between-study variance at zero
cases[[4]] <- fit_case("between_zero", "hand-made: no between-study heterogeneity",
                       c(1, 1, 1, 2, 2, 2, 3, 3, 3),
                       c(1, 2, 3, 1, 2, 3, 1, 2, 3),
                       c(-0.5, 0.2, 0.9, -0.45, 0.25, 0.85, -0.55, 0.15, 0.95),
                       c(0.01, 0.02, 0.015, 0.01, 0.02, 0.015, 0.01, 0.02, 0.015), fix = c(0, NA))
# hand-made: some estimates share a study/effect level (e.g. two outcomes of the same arm
# comparison); unbalanced study sizes, large and small sampling variances
cases[[5]] <- fit_case("shared_effect", "hand-made: repeated effect labels within studies, unbalanced, huge and tiny vi",
                       c(1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5, 6, 6),
                       c(1, 1, 2, 1, 2, 1, 1, 2, 3, 1, 1, 2, 1, 1),
                       c(0.42, 0.35, 0.80, -0.10, 0.25, 0.61, 0.55, 0.05, 0.30, 1.20, 0.15, -0.30, 0.70, 0.95),
                       c(0.02, 0.025, 0.04, 0.0005, 0.03, 0.05, 0.06, 0.01, 4.0, 0.08, 0.02, 0.03, 0.001, 0.05))

res <- list(generator = "tests/reference/mv.R", R_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")), cases = cases)
write_json(res, file.path(outdir, "mv.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
