# Reference values for evsynth.pooling.rma_batch / rma on simulated meta-analyses, from R's metafor
# run to the optimum (tight control). Usage: Rscript tests/reference/batch.R tests/reference
# Writes tests/reference/batch.json:
#   groups  : 300 seeded meta-analyses, 50 for each k in {2, 3, 5, 10, 30, 100}; true tau2 drawn from
#             {0, 0.02, 0.1, 0.3}, vi ~ U(0.01, 0.2) (4 significant digits), yi ~ N(0.3, tau2 + vi)
#             (6 significant digits; the rounded values are the data)
#   fits    : REML, ML, EB (Fisher scoring, threshold 1e-12) and PM (uniroot tol 1e-12) on every row:
#             beta, se, tau2. Where metafor's Fisher scoring does not converge with stepadj = 1 (it
#             can cycle), the step is halved (0.5, 0.25, ...) and the stepadj used is recorded.
#   qp_ci   : Q-profile CI of tau2 (confint, tol 1e-12) for REML, first 10 rows of every k
#   k10     : the 2,000-row k = 10 REML case of issue 11 (same generator)
#   defaults: how far metafor's default control (threshold 1e-5; uniroot tol eps^0.25) lands from the
#             tight values on these rows (max absolute and relative differences)
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"

seed <- 20261130
set.seed(seed)
gen <- function(n, k) {
  tau2 <- sample(c(0, 0.02, 0.1, 0.3), n, replace = TRUE)
  vi <- matrix(signif(runif(n * k, 0.01, 0.2), 4), n, k)
  theta <- 0.3 + rnorm(n * k) * sqrt(rep(tau2, times = k))
  yi <- matrix(signif(theta + rnorm(n * k) * sqrt(c(vi)), 6), n, k)
  list(k = k, n = n, tau2_true = tau2, yi = yi, vi = vi)
}
ks <- c(2, 3, 5, 10, 30, 100)
groups <- lapply(ks, function(k) gen(50, k))
k10 <- gen(2000, 10)

rows <- list()
for (g in groups) for (i in seq_len(g$n)) rows[[length(rows) + 1]] <- list(yi = g$yi[i, ], vi = g$vi[i, ])

tight_fit <- function(yi, vi, method) {
  if (method == "PM") return(list(f = rma(yi, vi, method = "PM", control = list(tol = 1e-12)), stepadj = 1))
  for (sa in c(1, 0.5, 0.25, 0.125)) {
    f <- tryCatch(rma(yi, vi, method = method, control = list(threshold = 1e-12, maxiter = 10000, stepadj = sa)),
                  error = function(e) NULL)
    if (!is.null(f)) return(list(f = f, stepadj = sa))
  }
  stop("no convergence with stepadj down to 0.125")
}
num <- function(x) unname(as.numeric(x))
fit_all <- function(rs, method) {
  out <- lapply(rs, function(r) tight_fit(r$yi, r$vi, method))
  list(beta = sapply(out, function(o) num(o$f$beta)), se = sapply(out, function(o) num(o$f$se)),
       tau2 = sapply(out, function(o) num(o$f$tau2)), stepadj = sapply(out, function(o) o$stepadj))
}
methods <- c("REML", "ML", "EB", "PM")
fits <- lapply(methods, function(m) fit_all(rows, m))
names(fits) <- methods

# Q-profile CI, first 10 rows of every k
ci_rows <- unlist(lapply(seq_along(ks), function(j) (j - 1) * 50 + 1:10))
ci <- lapply(ci_rows, function(i) {
  f <- tight_fit(rows[[i]]$yi, rows[[i]]$vi, "REML")$f
  num(confint(f, control = list(tol = 1e-12))$random["tau^2", c("ci.lb", "ci.ub")])
})
ci_def <- lapply(ci_rows, function(i) {
  f <- rma(rows[[i]]$yi, rows[[i]]$vi, method = "REML")
  num(confint(f)$random["tau^2", c("ci.lb", "ci.ub")])
})

# metafor's default control on the same rows
# largest absolute difference; largest relative difference where the tight value exceeds 1e-4
dmax <- function(a, b) c(max_abs = max(abs(a - b)), max_rel_where_above_1e4 = max((abs(a - b) / abs(b))[abs(b) > 1e-4]))
defaults <- list()
for (m in methods) {
  d <- lapply(rows, function(r) tryCatch(rma(r$yi, r$vi, method = m), error = function(e) NULL))
  ok <- !sapply(d, is.null)
  defaults[[m]] <- list(
    call = sprintf("rma(yi, vi, method=\"%s\")  # default control", m),
    rows_failed = which(!ok) - 1,
    tau2 = as.list(dmax(sapply(d[ok], function(f) num(f$tau2)), fits[[m]]$tau2[ok])),
    beta = as.list(dmax(sapply(d[ok], function(f) num(f$beta)), fits[[m]]$beta[ok])))
}
lb <- sapply(ci, `[`, 1); ub <- sapply(ci, `[`, 2)
defaults$QP_ci <- list(call = "confint(rma(yi, vi, method=\"REML\"))  # default control",
                       lb = as.list(dmax(sapply(ci_def, `[`, 1), lb)), ub = as.list(dmax(sapply(ci_def, `[`, 2), ub)))

k10_fit <- fit_all(lapply(seq_len(k10$n), function(i) list(yi = k10$yi[i, ], vi = k10$vi[i, ])), "REML")
k10_def <- lapply(seq_len(k10$n), function(i) tryCatch(rma(k10$yi[i, ], k10$vi[i, ], method = "REML"),
                                                        error = function(e) conditionMessage(e)))
k10_failed <- which(sapply(k10_def, is.character)) - 1

out <- list(
  r_version = R.version.string, metafor_version = as.character(packageVersion("metafor")), seed = seed,
  control = "control=list(threshold=1e-12, maxiter=10000[, stepadj=0.5, 0.25, ...]) for REML/ML/EB; control=list(tol=1e-12) for PM",
  groups = lapply(groups, function(g) list(k = g$k, n = g$n, tau2_true = g$tau2_true, yi = g$yi, vi = g$vi)),
  fits = fits,
  qp_ci = list(method = "REML", call = "confint(fit, control=list(tol=1e-12))", rows = ci_rows - 1, lb = lb, ub = ub),
  defaults = defaults,
  k10 = list(n = k10$n, tau2_true = k10$tau2_true, yi = k10$yi, vi = k10$vi, REML = k10_fit,
             default_control_errors = list(call = "rma(yi, vi, method=\"REML\")  # default control, maxiter 100",
                                           rows = k10_failed)))
write_json(out, file.path(outdir, "batch.json"), digits = NA, auto_unbox = TRUE, matrix = "rowmajor")
