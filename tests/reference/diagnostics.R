# Reference values for evsynth.pooling.diagnostics from R's metafor:
# leave1out(), cumul(), influence(), regtest(), trimfill() and funnel() on dat.bcg and dat.hackshaw1998.
# Usage: Rscript tests/reference/diagnostics.R tests/reference
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"

ctrl <- list(threshold = 1e-12, maxiter = 10000)
num <- function(x) as.numeric(unname(x))
STATS <- c("estimate", "se", "zval", "tval", "pval", "pvals", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2")
lst <- function(x) lapply(unclass(x)[intersect(STATS, names(x))], num)

diag_case <- function(name, note, yi, vi, order, method, test, order_desc) {
  fit_call <- sprintf("rma(yi, vi, method='%s', test='%s', control=list(threshold=1e-12, maxiter=10000))", method, test)
  res <- rma(yi, vi, method = method, test = test, control = ctrl)
  out <- list(name = name, note = note, method = method, test = test,
              data = list(yi = yi, vi = vi, order = order),
              fit = list(call = fit_call, beta = num(res$beta), se = num(res$se), tau2 = num(res$tau2)))

  l1 <- leave1out(res)
  out$leave1out <- c(list(call = "leave1out(res)"), lst(l1))

  cu <- cumul(res, order = order)
  out$cumul <- c(list(call = sprintf("cumul(res, order = %s)", order_desc),
                      order_index = as.integer(order(order))), lst(cu))

  inf <- influence(res)
  out$influence <- c(list(call = "influence(res)"),
                     lapply(unclass(inf$inf)[c("rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat", "weight")], num),
                     list(dfbetas = num(inf$dfbs$intrcpt), is_infl = as.logical(inf$is.infl)))

  rt <- regtest(res)
  out$regtest <- list(call = "regtest(res)  # model='rma', predictor='sei'",
                      zval = num(rt$zval), pval = num(rt$pval), dfs = num(rt$dfs), est = num(rt$est),
                      ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub),
                      fit_beta = num(rt$fit$beta), fit_se = num(rt$fit$se), fit_tau2 = num(rt$fit$tau2))

  out$trimfill <- list()
  for (est in c("L0", "R0")) {
    for (side in list(NULL, "left", "right")) {
      tf <- if (is.null(side)) trimfill(res, estimator = est, control = ctrl) else trimfill(res, estimator = est, side = side, control = ctrl)
      out$trimfill[[length(out$trimfill) + 1]] <- list(
        call = sprintf("trimfill(res, estimator='%s'%s, control=list(threshold=1e-12, maxiter=10000))", est, if (is.null(side)) "" else sprintf(", side='%s'", side)),
        estimator = est, side_arg = if (is.null(side)) NA else side,
        side = tf$side, k0 = num(tf$k0), se_k0 = num(tf$se.k0), p_k0 = num(tf$p.k0),
        k = num(tf$k), beta = num(tf$beta), se = num(tf$se), zval = num(tf$zval), pval = num(tf$pval),
        ci_lb = num(tf$ci.lb), ci_ub = num(tf$ci.ub), tau2 = num(tf$tau2), QE = num(tf$QE),
        yi = num(tf$yi), vi = num(tf$vi), fill = as.logical(tf$fill))
    }
  }

  pdf(NULL)
  fu <- funnel(res)
  dev.off()
  crit <- qnorm(0.025, lower.tail = FALSE)
  maxse <- max(sqrt(vi))
  out$funnel <- list(call = "funnel(res)  # returned data; pseudo-CI: beta -/+ qnorm(0.975) * se at se = 0 and max(sei)",
                     x = num(fu$x), y = num(fu$y), refline = num(res$beta),
                     se_top = 0, se_bottom = maxse,
                     ci_lb_bottom = num(res$beta) - crit * maxse, ci_ub_bottom = num(res$beta) + crit * maxse)
  out
}

b <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
h <- dat.hackshaw1998
cases <- list(
  diag_case("bcg_REML", "metadat dat.bcg, escalc RR (log RR); cumul by year", b$yi, b$vi, b$year, "REML", "z", "dat.bcg$year"),
  diag_case("bcg_DL_knha", "metadat dat.bcg, escalc RR; DL with Knapp-Hartung; cumul by ablat", b$yi, b$vi, b$ablat, "DL", "knha", "dat.bcg$ablat"),
  diag_case("hackshaw_FE", "metadat dat.hackshaw1998 (log OR); cumul by year", h$yi, h$vi, h$year, "FE", "z", "dat.hackshaw1998$year"),
  diag_case("hackshaw_REML", "metadat dat.hackshaw1998 (log OR); cumul by year", h$yi, h$vi, h$year, "REML", "z", "dat.hackshaw1998$year")
)
res <- list(generator = "tests/reference/diagnostics.R", R_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")), cases = cases)
write_json(res, file.path(outdir, "diagnostics.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
