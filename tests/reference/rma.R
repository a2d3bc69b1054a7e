# Reference values for evsynth.pooling.rma / rma_batch from R's metafor (rma.uni, predict, confint,
# weights). Usage: Rscript tests/reference/rma.R tests/reference
# Writes tests/reference/rma.json (univariate models) and tests/reference/rma_subgroup.json.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"

ctrl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)
ctrl_txt <- "control=list(threshold=1e-12, maxiter=1000, tol=1e-12)"
methods <- c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
tests <- c("z", "knha", "adhoc")  # adhoc: Knapp-Hartung with s2w truncated at 1 (metafor >= 3.0)

num <- function(x) if (is.null(x)) NA_real_ else unname(as.numeric(x))

fit_record <- function(yi, vi, mods, method, test, tau2 = NULL) {
  call <- sprintf("rma(yi, vi%s, method=\"%s\", test=\"%s\"%s, %s)",
                  if (is.null(mods)) "" else ", mods=mods", method, test,
                  if (is.null(tau2)) "" else sprintf(", tau2=%s", format(tau2, digits = 17)), ctrl_txt)
  warn <- character(0)
  fit <- withCallingHandlers(
    tryCatch({
      a <- list(yi = yi, vi = vi, method = method, test = test, tau2 = tau2, control = ctrl)
      if (!is.null(mods)) a$mods <- mods
      do.call(rma, a)
    }, error = function(e) e),
    warning = function(w) {warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning")})
  if (inherits(fit, "error")) return(list(call = call, error = conditionMessage(fit)))
  rec <- list(call = call, warnings = warn, method = method, test = fit$test,
              beta = num(fit$beta), se = num(fit$se), stat = num(fit$zval), pval = num(fit$pval),
              ci_lb = num(fit$ci.lb), ci_ub = num(fit$ci.ub), vb = unname(as.matrix(fit$vb)),
              tau2 = num(fit$tau2), se_tau2 = num(fit$se.tau2), I2 = num(fit$I2), H2 = num(fit$H2),
              QE = num(fit$QE), QEp = num(fit$QEp), QM = num(fit$QM), QMp = num(fit$QMp),
              k = fit$k, p = fit$p, weights = num(weights(fit)),
              loglik = num(logLik(fit)), loglik_call = "logLik(fit)",
              weights_call = "weights(fit)")
  if (is.null(mods)) {
    pr <- predict(fit)
    rec$pi_lb <- num(pr$pi.lb); rec$pi_ub <- num(pr$pi.ub)
    rec$pi_call <- "predict(fit)"
  }
  if (!(method %in% c("FE", "EE")) && is.null(tau2) && fit$k > fit$p) {
    ci <- tryCatch(confint(fit, control = list(tol = 1e-12)), error = function(e) NULL)
    if (!is.null(ci)) {
      rec$tau2_ci <- num(ci$random["tau^2", c("ci.lb", "ci.ub")])
      rec$I2_ci <- num(ci$random["I^2(%)", c("ci.lb", "ci.ub")])
      rec$H2_ci <- num(ci$random["H^2", c("ci.lb", "ci.ub")])
      rec$ci_call <- "confint(fit, control=list(tol=1e-12))"
    }
  }
  rec
}

case <- function(name, yi, vi, mods = NULL, source = "", mod_names = NULL) {
  fits <- list()
  for (m in methods) for (t in tests) fits[[length(fits) + 1]] <- fit_record(yi, vi, mods, m, t)
  list(name = name, source = source, yi = unname(as.numeric(yi)), vi = unname(as.numeric(vi)),
       mods = if (is.null(mods)) NULL else unname(as.matrix(mods)), mod_names = mod_names,
       fits = fits)
}

cases <- list()
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
src_bcg <- "escalc(measure=\"RR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)"
cases[[length(cases) + 1]] <- case("bcg", bcg$yi, bcg$vi, source = src_bcg)
cases[[length(cases) + 1]] <- case("hackshaw1998", dat.hackshaw1998$yi, dat.hackshaw1998$vi,
                                   source = "dat.hackshaw1998 (yi, vi)")
nor <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
cases[[length(cases) + 1]] <- case("normand1999", nor$yi, nor$vi,
  source = "escalc(measure=\"SMD\", m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999)")
# hand-made edge cases
cases[[length(cases) + 1]] <- case("k1", c(0.5), c(0.04), source = "hand-made: k = 1")
cases[[length(cases) + 1]] <- case("k2", c(0.1, 0.9), c(0.02, 0.05), source = "hand-made: k = 2")
cases[[length(cases) + 1]] <- case("tau2_zero", c(0.20, 0.21, 0.19, 0.205, 0.2),
                                   c(0.04, 0.05, 0.03, 0.06, 0.02),
                                   source = "hand-made: homogeneous, tau2 at the zero boundary")
cases[[length(cases) + 1]] <- case("extreme_het", c(-4, 3, 0.5, 6, -2.5, 1),
                                   c(0.01, 0.02, 0.015, 0.01, 0.03, 0.02),
                                   source = "hand-made: extreme heterogeneity")
cases[[length(cases) + 1]] <- case("huge_tiny_vi", c(0.3, 0.1, 0.8, -0.2, 0.5),
                                   c(1e-4, 50, 2e-4, 30, 1e-3),
                                   source = "hand-made: huge and tiny sampling variances")
cases[[length(cases) + 1]] <- case("bcg_ablat", bcg$yi, bcg$vi, mods = cbind(ablat = bcg$ablat),
                                   source = paste(src_bcg, "; mods = ablat"), mod_names = "ablat")
cases[[length(cases) + 1]] <- case("bcg_ablat_year", bcg$yi, bcg$vi,
                                   mods = cbind(ablat = bcg$ablat, year = bcg$year),
                                   source = paste(src_bcg, "; mods = cbind(ablat, year)"),
                                   mod_names = c("ablat", "year"))
# fixed tau2
fixed <- list()
for (t in tests) fixed[[length(fixed) + 1]] <- fit_record(bcg$yi, bcg$vi, NULL, "REML", t, tau2 = 0.1)
# non-convergence: Fisher scoring with maxiter = 2 stops with an error in metafor
nonconv <- tryCatch({rma(bcg$yi, bcg$vi, method = "REML", control = list(maxiter = 2, threshold = 1e-12)); "converged"},
                    error = function(e) conditionMessage(e))

# metafor's default control (threshold=1e-5, maxiter=100; uniroot tol=eps^0.25 for PM and confint)
defaults <- list()
dsets <- list(bcg = bcg, hackshaw1998 = dat.hackshaw1998, normand1999 = nor)
for (nm in names(dsets)) for (m in c("ML", "REML", "EB", "PM")) {
  d <- dsets[[nm]]
  f <- rma(d$yi, d$vi, method = m)
  ci <- confint(f)
  defaults[[length(defaults) + 1]] <- list(
    name = nm, method = m, call = sprintf("rma(yi, vi, method=\"%s\")  # default control", m),
    beta = num(f$beta), se = num(f$se), tau2 = num(f$tau2),
    tau2_ci = num(ci$random["tau^2", c("ci.lb", "ci.ub")]), ci_call = "confint(fit)  # default control")
}

# PM root above metafor's tau2.max = max(100, 10 * mad(yi)^2): metafor stops with an error
pm_y <- c(0, 0, 0, 0, 1000); pm_v <- c(0.1, 0.1, 0.1, 0.1, 0.1)
pm_widen <- list(yi = pm_y, vi = pm_v, call = "rma(yi, vi, method=\"PM\")",
                 result = tryCatch({rma(pm_y, pm_v, method = "PM"); "no error"}, error = function(e) conditionMessage(e)),
                 tau2_max_call = "rma(yi, vi, method=\"PM\", control=list(tau2.max=1e7, tol=1e-12))",
                 tau2_with_larger_tau2_max = num(rma(pm_y, pm_v, method = "PM", control = list(tau2.max = 1e7, tol = 1e-12))$tau2))

out <- list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
            control = ctrl_txt, cases = cases, fixed_tau2 = list(yi = bcg$yi, vi = bcg$vi, tau2 = 0.1, fits = fixed),
            defaults = defaults, pm_widen = pm_widen,
            nonconvergence = list(call = "rma(yi, vi, method=\"REML\", control=list(maxiter=2, threshold=1e-12)) on bcg",
                                  result = nonconv))
write_json(out, file.path(outdir, "rma.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)

# ---- subgroup analysis: dat.bcg by alloc
sub <- list()
for (m in methods) for (t in tests) {
  groups <- unique(as.character(bcg$alloc))
  per <- lapply(groups, function(g) {
    f <- rma(yi, vi, data = bcg, subset = alloc == g, method = m, test = t, control = ctrl)
    list(label = g, k = f$k, beta = num(f$beta), se = num(f$se), tau2 = num(f$tau2), QE = num(f$QE),
         I2 = num(f$I2), ci_lb = num(f$ci.lb), ci_ub = num(f$ci.ub), pval = num(f$pval))
  })
  est <- sapply(per, function(x) x$beta); se <- sapply(per, function(x) x$se)
  fb <- rma(est, sei = se, mods = ~ groups, method = "FE")
  fm <- rma(yi, vi, mods = ~ factor(alloc), data = bcg, method = m, test = t, control = ctrl)
  sub[[length(sub) + 1]] <- list(
    method = m, test = t, groups = per,
    Q_between = num(fb$QM), Q_between_p = num(fb$QMp), Q_between_df = length(groups) - 1,
    Q_between_call = "rma(est, sei=se, mods=~groups, method=\"FE\") on the per-subgroup fits rma(yi, vi, data=bcg, subset=alloc==g, method, test)",
    QM_mods = num(fm$QM), QM_mods_p = num(fm$QMp), QM_mods_df = num(fm$QMdf),
    QM_mods_call = sprintf("rma(yi, vi, mods=~factor(alloc), data=bcg, method=\"%s\", test=\"%s\", %s)", m, t, ctrl_txt))
}
write_json(list(r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
                source = src_bcg, yi = bcg$yi, vi = bcg$vi, alloc = as.character(bcg$alloc), fits = sub),
           file.path(outdir, "rma_subgroup.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
