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
out <- list(
  R_version = R.version.string, metafor_version = as.character(packageVersion("metafor")),
  data = list(study = as.character(dat$district), effect = as.character(dat$school), yi = dat$yi, vi = dat$vi,
              yearc = dat$yearc, era = era_dummies),
  cases = cases)
write_json(out, file.path(outdir, "mv_mods.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
