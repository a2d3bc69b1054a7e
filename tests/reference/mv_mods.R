# Reference values for evsynth.pooling.multilevel.rma_mv with moderators, from R's metafor.
# Usage: Rscript tests/reference/mv_mods.R tests/reference
# Writes mv_mods.json: rma.mv(yi, vi, mods = ..., random = ~ 1 | district/school) on
# dat.konstantopoulos2011 with a continuous moderator (year, centred) and with a cell-means
# design (one coefficient per category, no intercept: the form evsynth's onset time course uses).
suppressMessages({library(metafor); library(metadat); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"
ctrl <- list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14)
num <- function(x) as.numeric(unname(x))

dat <- dat.konstantopoulos2011
dat$yearc <- dat$year - 1990
dat$era <- cut(dat$year, c(-Inf, 1980, 1990, Inf), labels = c("early", "mid", "late"))
era_dummies <- model.matrix(~ era - 1, data = dat)

fit <- function(call, r) list(
  call = call, beta = num(r$beta), se = num(r$se), zval = num(r$zval), pval = num(r$pval),
  ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), sigma2 = num(r$sigma2), QE = num(r$QE), QEp = num(r$QEp),
  QM = num(r$QM), QMp = num(r$QMp), logLik = num(logLik(r)), k = r$k, p = r$p)

cases <- list()
for (meth in c("REML", "ML")) for (tst in c("z", "t")) {
  r1 <- rma.mv(yi, vi, mods = ~ yearc, random = ~ 1 | district/school, data = dat, method = meth,
               test = tst, control = ctrl)
  cases[[length(cases) + 1]] <- c(list(name = "year", intercept = TRUE, method = meth, test = tst),
    fit(sprintf("rma.mv(yi, vi, mods = ~ yearc, random = ~ 1 | district/school, method='%s', test='%s', control=list(optimizer='optim', optmethod='BFGS', reltol=1e-14))", meth, tst), r1))
  r2 <- rma.mv(yi, vi, mods = ~ era - 1, random = ~ 1 | district/school, data = dat, method = meth,
               test = tst, control = ctrl)
  cases[[length(cases) + 1]] <- c(list(name = "era_cell_means", intercept = FALSE, method = meth, test = tst),
    fit(sprintf("rma.mv(yi, vi, mods = ~ era - 1, random = ~ 1 | district/school, method='%s', test='%s', control=list(optimizer='optim', optmethod='BFGS', reltol=1e-14))", meth, tst), r2))
}
# Knapp-Hartung for rma.mv (metafor >= 4.0 test="knha"/"adhoc"; metafor 3.8 accepts only z/t):
# from the test="t" fit, s2w = r'M^-1 r / (k - p) with r = y - X b and M the marginal variance,
# 0 if r'M^-1 r <= eps, truncated at 1 for "adhoc"; vb is scaled by s2w, t and F with k - p df.
kh <- function(r, adhoc) {
  res <- r$yi - r$X %*% r$beta
  RSS <- as.vector(t(res) %*% chol2inv(chol(r$M)) %*% res)
  s2w <- if (RSS <= .Machine$double.eps) 0 else RSS / (r$k - r$p)
  if (adhoc) s2w <- max(1, s2w)
  vb <- s2w * r$vb; se <- sqrt(diag(vb)); ddf <- r$k - r$p
  tval <- c(r$beta) / se; crit <- qt(0.025, ddf, lower.tail = FALSE)
  btt <- r$btt; m <- length(btt)
  QM <- as.vector(t(r$beta[btt]) %*% chol2inv(chol(vb[btt, btt, drop = FALSE])) %*% r$beta[btt]) / m
  list(beta = num(r$beta), se = num(se), tval = num(tval), pval = num(2 * pt(abs(tval), ddf, lower.tail = FALSE)),
       ci_lb = num(c(r$beta) - crit * se), ci_ub = num(c(r$beta) + crit * se), sigma2 = num(r$sigma2),
       QE = num(r$QE), QEp = num(r$QEp), QM = QM, QMp = pf(QM, m, ddf, lower.tail = FALSE),
       logLik = num(logLik(r)), k = r$k, p = r$p, s2w = s2w)
}
for (meth in c("REML", "ML")) {
  r2 <- rma.mv(yi, vi, mods = ~ era - 1, random = ~ 1 | district/school, data = dat, method = meth,
               test = "t", control = ctrl)
  for (tst in c("knha", "adhoc")) {
    cases[[length(cases) + 1]] <- c(list(name = "era_cell_means", intercept = FALSE, method = meth, test = tst),
      list(call = sprintf("r <- rma.mv(yi, vi, mods = ~ era - 1, random = ~ 1 | district/school, method='%s', test='t', control=list(optimizer='optim', optmethod='BFGS', reltol=1e-14)); kh(r, adhoc=%s)", meth, tst == "adhoc")),
      kh(r2, tst == "adhoc"))
  }
}
# hand-made time course where the Knapp-Hartung factor is below 1 (s2w = 0.53 under REML), so that
# "adhoc" differs from "knha": 6 trials x up to 3 windows, between-trial variance > 0
tc <- data.frame(
  study = c("A", "A", "A", "B", "B", "C", "C", "C", "D", "D", "E", "E", "F"),
  window = c("h4", "d1", "d7", "h4", "d1", "h4", "d1", "d7", "d1", "d7", "h4", "d7", "d1"),
  yi = c(-0.12, -0.25, -0.05, -0.87, -0.90, -0.40, -0.58, -0.33, -0.72, -0.48, -0.15, 0.01, -0.84),
  vi = c(0.03, 0.028, 0.035, 0.04, 0.037, 0.025, 0.026, 0.03, 0.034, 0.04, 0.029, 0.032, 0.036))
tc$effect <- paste(tc$study, tc$window)
tc$window <- factor(tc$window, levels = c("h4", "d1", "d7"))
tc_cases <- list()
for (meth in c("REML", "ML")) {
  r <- rma.mv(yi, vi, mods = ~ window - 1, random = ~ 1 | study/effect, data = tc, method = meth,
              test = "t", control = ctrl)
  for (tst in c("t", "knha", "adhoc")) {
    rec <- if (tst == "t") fit("", r) else kh(r, tst == "adhoc")
    rec$call <- sprintf("r <- rma.mv(yi, vi, mods = ~ window - 1, random = ~ 1 | study/effect, method='%s', test='t', control=list(optimizer='optim', optmethod='BFGS', reltol=1e-14))%s",
                        meth, if (tst == "t") "" else sprintf("; kh(r, adhoc=%s)", tst == "adhoc"))
    tc_cases[[length(tc_cases) + 1]] <- c(list(method = meth, test = tst), rec)
  }
}
out <- list(
  R_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  data = list(study = as.character(dat$district), effect = as.character(dat$school), yi = dat$yi, vi = dat$vi,
              yearc = dat$yearc, era = era_dummies),
  cases = cases,
  time_course = list(data = list(study = tc$study, effect = tc$effect, window = as.character(tc$window),
                                 yi = tc$yi, vi = tc$vi, windows = levels(tc$window)),
                     cases = tc_cases))
write_json(out, file.path(outdir, "mv_mods.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
