# Reference values for evsynth.effects from R's metafor::escalc and transf.* functions.
#
# Usage: Rscript tests/reference/escalc.R tests/reference
# Writes escalc.json (effect sizes) and escalc_transf.json (back-transformations).
# Each case keeps its input data, the escalc options and the exact R call that produced
# yi/vi. Data: metadat's dat.bcg, dat.normand1999, dat.pritz1997, dat.debruin2009, plus
# made-up paired data and hand-made edge cases (zero cells, all-zero arms, n = 2,
# tiny and huge SDs).

args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else "tests/reference"
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

cases <- list()

# Run escalc on data frame `d` with column arguments `cols` (named character vector:
# escalc argument -> column) and extra options `opts`; record everything.
add_case <- function(name, measure, d, cols, opts = list(), dname = "d") {
  cl <- as.call(c(list(as.name("escalc"), measure = measure),
                  lapply(cols, as.name), opts, list(data = as.name(dname))))
  env <- new.env()
  assign(dname, d, envir = env)
  res <- suppressWarnings(eval(cl, envir = env))
  cases[[length(cases) + 1]] <<- list(
    name = name,
    measure = measure,
    call = paste(deparse(cl, width.cutoff = 500L), collapse = " "),
    data_source = dname,
    data = as.list(d[, unname(cols), drop = FALSE]),
    args = as.list(cols),
    options = opts,
    yi = as.numeric(res$yi),
    vi = as.numeric(res$vi)
  )
}

# --- two-group binary: dat.bcg -------------------------------------------------------
bcg <- dat.bcg[, c("tpos", "tneg", "cpos", "cneg")]
bcg_cols <- c(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg")
for (m in c("RR", "OR", "PETO")) add_case(paste0("bcg_", m), m, bcg, bcg_cols, dname = "dat.bcg")
for (vt in c("LS", "UB", "AV")) {
  add_case(paste0("bcg_RD_", vt), "RD", bcg, bcg_cols, list(vtype = vt), dname = "dat.bcg")
}
add_case("bcg_RR_n1i_n2i", "RR",
         data.frame(tpos = dat.bcg$tpos, n1 = dat.bcg$tpos + dat.bcg$tneg,
                    cpos = dat.bcg$cpos, n2 = dat.bcg$cpos + dat.bcg$cneg),
         c(ai = "tpos", n1i = "n1", ci = "cpos", n2i = "n2"))

# --- two-group binary edge cases -------------------------------------------------------
# rows: zero events in one arm; zero events in both arms; all events in both arms;
# no zero cell; n = 2 per arm with a zero cell; zero non-events in one arm
edge2x2 <- data.frame(ai = c(0, 0, 10, 5, 1, 8),
                      bi = c(10, 10, 0, 5, 1, 0),
                      ci = c(3, 0, 12, 4, 0, 6),
                      di = c(7, 12, 0, 7, 2, 5))
edge_cols <- c(ai = "ai", bi = "bi", ci = "ci", di = "di")
for (m in c("RR", "OR", "RD", "PETO")) {
  for (to in c("only0", "all", "if0all", "none")) {
    for (drop in c(FALSE, TRUE)) {
      add_case(sprintf("edge_%s_%s_drop00%s", m, to, drop), m, edge2x2, edge_cols,
               list(to = to, drop00 = drop))
    }
  }
  add_case(sprintf("edge_%s_add1_all", m), m, edge2x2, edge_cols, list(add = 1, to = "all"))
  add_case(sprintf("edge_%s_add0", m), m, edge2x2, edge_cols, list(add = 0))
}
nozero <- edge2x2[4, , drop = FALSE]
add_case("nozero_OR_if0all", "OR", rbind(nozero, data.frame(ai = 20, bi = 30, ci = 15, di = 35)),
         edge_cols, list(to = "if0all"))
add_case("edge_RD_UB", "RD", edge2x2, edge_cols, list(vtype = "UB"))
add_case("edge_RD_AV", "RD", edge2x2, edge_cols, list(vtype = "AV"))

# --- two-group continuous: dat.normand1999 ---------------------------------------------
norm <- dat.normand1999[, c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")]
norm_cols <- c(m1i = "m1i", m2i = "m2i", sd1i = "sd1i", sd2i = "sd2i", n1i = "n1i", n2i = "n2i")
vts <- list(MD = c("LS", "UB", "HO"), SMD = c("LS", "UB", "LS2", "AV"),
            SMDH = c("LS", "LS2"), ROM = c("LS", "HO", "AV", "AVHO"))
for (m in names(vts)) {
  for (vt in vts[[m]]) {
    add_case(sprintf("normand_%s_%s", m, vt), m, norm, norm_cols, list(vtype = vt),
             dname = "dat.normand1999")
  }
}
add_case("normand_SMD_default", "SMD", norm, norm_cols, dname = "dat.normand1999")
add_case("normand_MD_vtype_vector", "MD", norm, norm_cols,
         list(vtype = rep(c("LS", "HO"), length.out = nrow(norm))), dname = "dat.normand1999")

# edge cases: n = 2 per group, tiny SDs, huge SDs and means, unequal SDs
cont_edge <- data.frame(m1i = c(1.5, 10.000001, 2e6, 12, 0.003),
                        m2i = c(1.0, 10, 1e6, 15, 0.002),
                        sd1i = c(0.7, 1e-7, 5e5, 2, 0.001),
                        sd2i = c(0.4, 2e-7, 9e5, 20, 0.0005),
                        n1i = c(2, 40, 300, 25, 3),
                        n2i = c(2, 38, 280, 5, 2))
for (m in names(vts)) {
  for (vt in vts[[m]]) add_case(sprintf("contedge_%s_%s", m, vt), m, cont_edge, norm_cols, list(vtype = vt))
}

# --- paired / crossover (made-up data) ----------------------------------------------------
paired <- data.frame(m1i = c(28.1, 30.5, 25.0, 22.4, 31.2, 27.0),
                     m2i = c(18.3, 24.0, 26.1, 12.9, 20.5, 27.0),
                     sd1i = c(5.2, 6.1, 4.4, 7.9, 3.3, 5.0),
                     sd2i = c(7.4, 6.8, 4.0, 8.8, 9.9, 5.0),
                     ni = c(20, 45, 3, 12, 150, 8),
                     ri = c(0.5, 0.8, -0.3, 0, 0.95, 0.2))
p_cols <- c(m1i = "m1i", m2i = "m2i", sd1i = "sd1i", sd2i = "sd2i", ni = "ni", ri = "ri")
add_case("paired_MC", "MC", paired, p_cols)
for (vt in c("LS", "LS2")) {
  add_case(paste0("paired_SMCC_", vt), "SMCC", paired, p_cols, list(vtype = vt))
  add_case(paste0("paired_SMCR_", vt), "SMCR", paired, p_cols[names(p_cols) != "sd2i"], list(vtype = vt))
}

# --- single-group proportions -------------------------------------------------------------
pritz <- dat.pritz1997[, c("xi", "ni")]
pr_cols <- c(xi = "xi", ni = "ni")
prop_vts <- list(PR = c("LS", "UB", "AV"), PLO = c("LS", "AV"), PAS = "LS", PFT = "LS")
for (m in names(prop_vts)) {
  for (vt in prop_vts[[m]]) {
    add_case(sprintf("pritz_%s_%s", m, vt), m, pritz, pr_cols, list(vtype = vt), dname = "dat.pritz1997")
  }
}
debruin <- dat.debruin2009[, c("xi", "ni")]
for (m in c("PR", "PLO", "PAS", "PFT")) {
  add_case(paste0("debruin_", m), m, debruin, pr_cols, dname = "dat.debruin2009")
}
prop_edge <- data.frame(xi = c(0, 5, 12, 1, 2), ni = c(15, 5, 40, 2, 2))
for (m in c("PR", "PLO", "PAS", "PFT")) {
  add_case(paste0("propedge_", m), m, prop_edge, pr_cols)
  add_case(paste0("propedge_", m, "_all"), m, prop_edge, pr_cols, list(add = 0.5, to = "all"))
  add_case(paste0("propedge_", m, "_none"), m, prop_edge, pr_cols, list(to = "none"))
}
add_case("propedge_PR_mi", "PR", data.frame(xi = prop_edge$xi, mi = prop_edge$ni - prop_edge$xi),
         c(xi = "xi", mi = "mi"))

versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")))

write_json(list(versions = versions, cases = cases), file.path(outdir, "escalc.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")

# --- back-transformations -------------------------------------------------------------------
tr <- list()
add_tr <- function(name, call, x, ni, value) {
  tr[[length(tr) + 1]] <<- list(name = name, call = call, x = x, ni = ni, value = as.numeric(value))
}
xg <- c(-3, -0.5, 0, 0.2, 1.1, 4.5)
add_tr("exp", "exp(x)  # metafor back-transforms log ratios with exp", xg, NULL, exp(xg))
add_tr("ilogit", "transf.ilogit(x)", xg, NULL, transf.ilogit(xg))
xa <- c(-0.1, 0, 0.3, 0.785, 1.2, 1.5707963267948966, 1.7)
add_tr("iarcsin", "transf.iarcsin(x)", xa, NULL, transf.iarcsin(xa))
pft_dat <- escalc(measure = "PFT", xi = xi, ni = ni, data = dat.pritz1997)
xf <- as.numeric(pft_dat$yi)
add_tr("ipft_pritz", "transf.ipft(x, ni) with x = escalc('PFT', xi, ni, data = dat.pritz1997)$yi",
       xf, dat.pritz1997$ni, transf.ipft(xf, dat.pritz1997$ni))
xf2 <- c(-0.05, 0.02, 0.3, 0.9, 1.3, 1.6, 1.7)
nf2 <- c(10, 10, 25, 8, 40, 10, 10)
add_tr("ipft_edges", "transf.ipft(x, ni)", xf2, nf2, transf.ipft(xf2, nf2))
add_tr("ipft_hm_pritz", "transf.ipft.hm(x, targs = list(ni = dat.pritz1997$ni))",
       c(0.5, 1.0, 1.2, 1.45, 0.01, 1.6), dat.pritz1997$ni,
       transf.ipft.hm(c(0.5, 1.0, 1.2, 1.45, 0.01, 1.6), targs = list(ni = dat.pritz1997$ni)))
write_json(list(versions = versions, transformations = tr), file.path(outdir, "escalc_transf.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
