# Reference values for evsynth.pooling.mh (rma_mh, rma_peto) from R's metafor.
# Usage: Rscript tests/reference/mh.R tests/reference
# Writes mh.json: for each case, the 2x2 counts and metafor's rma.mh (OR, RR, RD) and rma.peto results.
suppressMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"

num <- function(x) if (is.null(x)) NA_real_ else as.numeric(unname(x))

fields <- function(r) {
  list(beta = num(r$beta), se = num(r$se), zval = num(r$zval), pval = num(r$pval),
       ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), QE = num(r$QE), QEp = num(r$QEp),
       I2 = num(r$I2), H2 = num(r$H2), k = num(r$k), k_yi = num(r$k.yi),
       yi = num(r$yi.f), vi = num(r$vi.f), weights = num(weights(r)))
}

run_case <- function(name, ai, bi, ci, di, note) {
  out <- list(name = name, note = note, data = list(ai = ai, bi = bi, ci = ci, di = di), mh = list())
  for (m in c("OR", "RR", "RD")) {
    for (corr in c(TRUE, FALSE)) {
      call <- sprintf("rma.mh(ai=ai, bi=bi, ci=ci, di=di, measure='%s', correct=%s)", m, corr)
      r <- suppressWarnings(rma.mh(ai = ai, bi = bi, ci = ci, di = di, measure = m, correct = corr))
      f <- fields(r)
      if (m == "OR") {
        f <- c(f, list(MH = num(r$MH), MHp = num(r$MHp), CO = num(r$CO), COp = num(r$COp),
                       TA = num(r$TA), TAp = num(r$TAp), BD = num(r$BD), BDp = num(r$BDp),
                       k_pos = num(r$k.pos)))
      }
      f$call <- call
      f$measure <- m
      f$correct <- corr
      if (m != "OR" && !corr) next  # 'correct' only affects the OR's CMH test
      out$mh[[length(out$mh) + 1]] <- f
    }
  }
  out$mh_level90 <- local({
    r <- suppressWarnings(rma.mh(ai = ai, bi = bi, ci = ci, di = di, measure = "RR", level = 90))
    f <- fields(r); f$call <- "rma.mh(ai=ai, bi=bi, ci=ci, di=di, measure='RR', level=90)"; f
  })
  out$mh_add_all <- local({
    r <- suppressWarnings(rma.mh(ai = ai, bi = bi, ci = ci, di = di, measure = "OR", add = 0.5, to = "all", drop00 = FALSE))
    f <- fields(r); f$call <- "rma.mh(ai=ai, bi=bi, ci=ci, di=di, measure='OR', add=0.5, to='all', drop00=FALSE)"; f
  })
  out$peto <- local({
    r <- suppressWarnings(rma.peto(ai = ai, bi = bi, ci = ci, di = di))
    f <- fields(r); f$call <- "rma.peto(ai=ai, bi=bi, ci=ci, di=di)"; f
  })
  out$peto_level90 <- local({
    r <- suppressWarnings(rma.peto(ai = ai, bi = bi, ci = ci, di = di, level = 90))
    f <- fields(r); f$call <- "rma.peto(ai=ai, bi=bi, ci=ci, di=di, level=90)"; f
  })
  out
}

cases <- list()
b <- dat.bcg
cases[[1]] <- run_case("bcg", b$tpos, b$tneg, b$cpos, b$cneg, "metadat dat.bcg (tpos, tneg, cpos, cneg)")
y <- dat.yusuf1985; y <- y[complete.cases(y), ]
for (tb in c("6", "9", "12a")) {
  s <- y[y$table == tb, ]
  cases[[length(cases) + 1]] <- run_case(paste0("yusuf1985_table", tb), s$ai, s$n1i - s$ai, s$ci, s$n2i - s$ci,
    sprintf("metadat dat.yusuf1985, table %s, complete rows; bi = n1i - ai, di = n2i - ci", tb))
}
cases[[length(cases) + 1]] <- run_case("k1", 12, 38, 20, 30, "hand-made: one table")
cases[[length(cases) + 1]] <- run_case("k2", c(12, 3), c(38, 47), c(20, 9), c(30, 41), "hand-made: two tables")
cases[[length(cases) + 1]] <- run_case("zero_cells", c(0, 5, 2, 0, 7), c(20, 15, 28, 10, 13), c(3, 0, 6, 0, 9), c(17, 20, 24, 10, 11),
  "hand-made: single-zero cells and one 0/0 table (dropped from yi/QE, kept in MH sums)")
cases[[length(cases) + 1]] <- run_case("homogeneous", c(10, 20, 30), c(90, 180, 270), c(10, 20, 30), c(90, 180, 270),
  "hand-made: identical proportions (OR = RR = 1, RD = 0)")
cases[[length(cases) + 1]] <- run_case("extreme", c(1, 95, 2, 180), c(999, 5, 998, 20), c(40, 3, 60, 5), c(960, 97, 940, 195),
  "hand-made: extreme heterogeneity, tiny and large counts")
cases[[length(cases) + 1]] <- run_case("allzero_arm", c(0, 0, 0), c(25, 30, 18), c(2, 4, 1), c(23, 26, 19),
  "hand-made: no events in group 1 of any table (MH OR and RR undefined = NA; RD defined)")
cases[[length(cases) + 1]] <- run_case("noninteger", c(2.5, 7.5, 1.5), c(20.5, 15.5, 30.5), c(4.5, 3.5, 6.5), c(18.5, 20.5, 25.5),
  "hand-made: non-integer counts (e.g. already continuity-corrected tables)")

res <- list(generator = "tests/reference/mh.R", R_version = R.version.string,
            metafor_version = as.character(packageVersion("metafor")), cases = cases)
write_json(res, file.path(outdir, "mh.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
