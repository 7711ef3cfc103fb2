# Golden values for tests/stats, computed with base R (and sandwich) directly,
# not with the r_compat twins, so the Python suite checks against R itself
# even where R is not installed.
#
# Run from the repository root:   Rscript tests/stats/golden/make_golden.R
# Needs: r-base-core, r-cran-sandwich (Debian). Writes the CSV files next to
# this script. Where base R has no answer (binom.test(0, 0) stops), the value
# written is robustsk's documented convention and is marked in a column.

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "tests/stats/golden"
write_golden <- function(x, name) {
  utils::write.csv(x, file.path(out_dir, name), row.names = FALSE)
}

# ---- accuracy intervals ------------------------------------------------------
rows <- list()
for (n in c(1, 2, 3, 5, 10, 17, 50, 263)) {
  for (x in sort(unique(c(0, 1, n %/% 3, n %/% 2, n - 1, n)))) {
    for (alpha in c(0.05, 0.01, 0.2)) {
      w <- suppressWarnings(prop.test(x, n, conf.level = 1 - alpha, correct = FALSE))$conf.int
      cp <- binom.test(x, n, conf.level = 1 - alpha)$conf.int
      z <- qnorm(1 - alpha / 2)
      nt <- n + z^2
      pt <- (x + z^2 / 2) / nt
      h <- z * sqrt(pt * (1 - pt) / nt)
      rows[[length(rows) + 1]] <- data.frame(
        successes = x, n = n, alpha = alpha,
        method = c("wilson", "clopper-pearson", "agresti-coull"),
        low = c(w[1], cp[1], max(0, pt - h)), high = c(w[2], cp[2], min(1, pt + h)))
    }
  }
}
write_golden(do.call(rbind, rows), "intervals.csv")

# ---- McNemar ----------------------------------------------------------------
counts <- rbind(c(794, 150, 86, 570), c(5, 3, 9, 4), c(0, 0, 0, 0), c(4, 0, 0, 6),
                c(1, 1, 0, 1), c(0, 0, 1, 0), c(2, 4, 4, 1), c(10, 0, 7, 3), c(1, 12, 2, 0),
                c(0, 25, 24, 0), c(3, 1, 1, 3), c(50, 30, 10, 2), c(0, 5, 0, 0))
rows <- list()
for (i in seq_len(nrow(counts))) {
  cnt <- counts[i, ]
  n11 <- cnt[1]; b <- cnt[2]; c <- cnt[3]; n22 <- cnt[4]
  if (n11 + b + c + n22 == 0) next
  tab <- matrix(c(n11, c, b, n22), 2)
  for (correct in c(TRUE, FALSE)) {
    m <- suppressWarnings(mcnemar.test(tab, correct = correct))
    rows[[length(rows) + 1]] <- data.frame(n11 = n11, b = b, c = c, n22 = n22, exact = FALSE,
                                           correction = correct, statistic = unname(m$statistic),
                                           pvalue = m$p.value, convention = FALSE)
  }
  if (b + c > 0) {
    bt <- binom.test(b, b + c, 0.5)
    rows[[length(rows) + 1]] <- data.frame(n11 = n11, b = b, c = c, n22 = n22, exact = TRUE,
                                           correction = TRUE, statistic = b,
                                           pvalue = bt$p.value, convention = FALSE)
  } else {
    rows[[length(rows) + 1]] <- data.frame(n11 = n11, b = b, c = c, n22 = n22, exact = TRUE,
                                           correction = TRUE, statistic = 0, pvalue = 1,
                                           convention = TRUE)
  }
}
write_golden(do.call(rbind, rows), "mcnemar.csv")

# ---- Cochran's Q --------------------------------------------------------------
set.seed(20240501)
datasets <- list(
  cbind(c(0, 0, 0, 0, 0, 1, 1, 1, 1), c(0, 0, 0, 1, 1, 1, 1, 0, 0), rep(0, 9),
        c(0, 0, 1, 1, 1, 1, 0, 0, 0), c(1, 1, 1, 1, 0, 0, 0, 0, 0)),
  matrix(runif(40 * 3) < c(0.4, 0.5, 0.7), ncol = 3, byrow = TRUE) * 1,
  matrix(runif(25 * 4) < c(0.2, 0.3, 0.3, 0.9), ncol = 4, byrow = TRUE) * 1,
  matrix(runif(12 * 2) < 0.5, ncol = 2) * 1,
  cbind(c(1, 1, 0, 0, 1), c(1, 1, 0, 0, 1), c(1, 1, 0, 0, 1)),
  cbind(c(1, 1, 1, 1, 1, 1), c(1, 0, 1, 1, 1, 1), c(1, 1, 1, 1, 1, 1))
)
data_rows <- list(); q_rows <- list(); pw_rows <- list()
for (d in seq_along(datasets)) {
  x <- datasets[[d]]
  k <- ncol(x)
  data_rows[[d]] <- data.frame(dataset = d, example = rep(seq_len(nrow(x)), k),
                               group = rep(seq_len(k) - 1, each = nrow(x)), correct = as.vector(x))
  ct <- colSums(x); rt <- rowSums(x); tot <- sum(x)
  q <- (k - 1) * (k * sum(ct^2) - tot^2) / (k * tot - sum(rt^2))
  q_rows[[d]] <- data.frame(dataset = d, statistic = q, df = k - 1,
                            pvalue = pchisq(q, k - 1, lower.tail = FALSE))
  pairs <- utils::combn(k, 2)
  for (exact in c(TRUE, FALSE)) {
    st <- pv <- bb <- cc <- numeric(ncol(pairs))
    for (p in seq_len(ncol(pairs))) {
      a <- x[, pairs[1, p]] == 1; bv <- x[, pairs[2, p]] == 1
      bb[p] <- sum(a & !bv); cc[p] <- sum(!a & bv)
      if (exact) {
        if (bb[p] + cc[p] == 0) { st[p] <- 0; pv[p] <- 1 } else {
          st[p] <- bb[p]; pv[p] <- binom.test(bb[p], bb[p] + cc[p])$p.value
        }
      } else {
        tab <- matrix(c(sum(a & bv), cc[p], bb[p], sum(!a & !bv)), 2)
        m <- suppressWarnings(mcnemar.test(tab, correct = TRUE))
        st[p] <- unname(m$statistic); pv[p] <- m$p.value
      }
    }
    for (adj in c("holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none")) {
      pw_rows[[length(pw_rows) + 1]] <- data.frame(
        dataset = d, exact = exact, p_adjust = adj,
        group_a = paste0("group_", pairs[1, ] - 1), group_b = paste0("group_", pairs[2, ] - 1),
        b = bb, c = cc, statistic = st, pvalue = pv, pvalue_adjusted = p.adjust(pv, adj))
    }
  }
}
write_golden(do.call(rbind, data_rows), "cochran_data.csv")
write_golden(do.call(rbind, q_rows), "cochran.csv")
write_golden(do.call(rbind, pw_rows), "cochran_pairwise.csv")

# ---- paired bootstrap ----------------------------------------------------------
set.seed(7)
n <- 37
a <- runif(n) < 0.7
b <- ifelse(runif(n) < 0.75, a, runif(n) < 0.3)
idx <- matrix(sample.int(n, n * 400, replace = TRUE), nrow = 400)
write_golden(data.frame(correct_a = a * 1, correct_b = b * 1), "bootstrap_data.csv")
write_golden(as.data.frame(idx - 1), "bootstrap_indices.csv")  # 0-based, one resample a row
dd <- as.numeric(a) - as.numeric(b)
diffs <- rowMeans(matrix(dd[idx], nrow = nrow(idx)))
rows <- lapply(c(0.05, 0.1, 0.5), function(alpha) {
  q <- quantile(diffs, c(alpha / 2, 1 - alpha / 2), type = 7, names = FALSE)
  data.frame(alpha = alpha, estimate = mean(dd), low = q[1], high = q[2], standard_error = sd(diffs))
})
write_golden(do.call(rbind, rows), "bootstrap.csv")

# ---- robustness curve ----------------------------------------------------------
set.seed(11)
n_ex <- 60
eps <- c(0, 0.05, 0.1, 0.2, 0.3)
d <- expand.grid(example_id = seq_len(n_ex), eps = eps, defense = c("madry", "none", "trades"),
                 stringsAsFactors = FALSE)
hard <- rnorm(n_ex)[d$example_id]
slope <- c(madry = 6, none = 25, trades = 5)[d$defense]
d$correct <- runif(nrow(d)) < plogis(2.2 - hard - slope * d$eps)
d$attack <- "pgd"
write_golden(d[, c("example_id", "eps", "attack", "defense", "correct")], "curve_data.csv")
ctrl <- glm.control(epsilon = 1e-12, maxit = 100)
fit <- glm(correct ~ defense * eps, family = binomial(), data = d, control = ctrl)
fit <- glm(correct ~ defense * eps, family = binomial(), data = d, control = ctrl, start = coef(fit))
grid <- c(0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
nd <- expand.grid(eps = grid, defense = c("madry", "none", "trades"), stringsAsFactors = FALSE)
x <- model.matrix(~ defense * eps, nd)
term <- c("(Intercept)" = "intercept", "defensenone" = "defense[T.none]",
          "defensetrades" = "defense[T.trades]", "eps" = "eps",
          "defensenone:eps" = "eps:defense[T.none]", "defensetrades:eps" = "eps:defense[T.trades]")
curve_rows <- list(); coef_rows <- list()
for (cov_type in c("cluster", "nonrobust")) {
  v <- if (cov_type == "cluster") {
    sandwich::vcovCL(fit, cluster = d$example_id, type = "HC1", cadjust = TRUE)
  } else vcov(fit)
  eta <- drop(x %*% coef(fit))
  se <- sqrt(rowSums((x %*% v) * x))
  for (alpha in c(0.05, 0.2)) {
    z <- qnorm(1 - alpha / 2)
    curve_rows[[length(curve_rows) + 1]] <- data.frame(
      cov_type = cov_type, alpha = alpha, defense = nd$defense, eps = nd$eps,
      fitted = plogis(eta), low = plogis(eta - z * se), high = plogis(eta + z * se))
  }
  coef_rows[[cov_type]] <- data.frame(cov_type = cov_type, term = term[names(coef(fit))],
                                      estimate = unname(coef(fit)), se = sqrt(diag(v)))
}
write_golden(do.call(rbind, curve_rows), "curve.csv")
write_golden(do.call(rbind, coef_rows), "curve_coef.csv")

# ---- one-sided Clopper-Pearson bounds (randomized smoothing's pA lower bound) ------------
rows <- list()
for (n in c(1, 2, 7, 50, 100, 1000, 100000)) {
  for (x in sort(unique(c(0, 1, n %/% 2, n - 1, n)))) {
    for (alpha in c(0.001, 0.05, 0.3)) {
      rows[[length(rows) + 1]] <- data.frame(
        successes = x, n = n, alpha = alpha, side = c("lower", "upper"),
        bound = c(binom.test(x, n, alternative = "greater", conf.level = 1 - alpha)$conf.int[1],
                  binom.test(x, n, alternative = "less", conf.level = 1 - alpha)$conf.int[2]))
    }
  }
}
write_golden(do.call(rbind, rows), "clopper_pearson.csv")

cat("golden files written to", out_dir, "\n")
