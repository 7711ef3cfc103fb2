# Golden values for the selection statistics of tests/stats (issue 13),
# computed with base R directly, not with the r_compat twins.
#
# Run from the repository root:   Rscript tests/stats/golden/make_golden_select.R
# Needs r-base-core only. Writes the CSV files next to this script.

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script)) dirname(normalizePath(script)) else "tests/stats/golden"
write_golden <- function(x, name) {
  utils::write.csv(x, file.path(out_dir, name), row.names = FALSE)
}

# ---- corrected resampled t-test over CV splits -------------------------------
# 5 x 6-fold on n = 120 (n_train 100, n_test 20); split effects shared by all
# candidates, as in repeated cross-validation.
set.seed(13)
J <- 30
split_effect <- rnorm(J, 0, 0.04)
means <- c(a = 0.81, b = 0.80, c = 0.78, d = 0.70)
scores <- sapply(means, function(m) m + split_effect + rnorm(J, 0, 0.015))
colnames(scores) <- names(means)
write_golden(as.data.frame(scores), "cv_scores.csv")
n_train <- 100; n_test <- 20
rows <- list()
for (correction in c("nadeau-bengio", "none")) {
  f <- 1 / J + if (correction == "nadeau-bengio") n_test / n_train else 0
  ord <- order(-colMeans(scores))
  s <- scores[, ord]
  pairs <- combn(ncol(s), 2)
  for (alternative in c("two-sided", "greater")) {
    res <- lapply(seq_len(ncol(pairs)), function(p) {
      d <- s[, pairs[1, p]] - s[, pairs[2, p]]
      se <- sqrt(var(d) * f)
      t <- mean(d) / se
      pv <- if (alternative == "two-sided") 2 * pt(-abs(t), J - 1) else pt(t, J - 1, lower.tail = FALSE)
      rope <- 0.01
      data.frame(candidate_a = colnames(s)[pairs[1, p]], candidate_b = colnames(s)[pairs[2, p]],
                 difference = mean(d), std_error = se, statistic = t, pvalue = pv,
                 low = mean(d) - qt(0.975, J - 1) * se, high = mean(d) + qt(0.975, J - 1) * se,
                 p_better = 1 - pt((rope - mean(d)) / se, J - 1),
                 p_rope = pt((rope - mean(d)) / se, J - 1) - pt((-rope - mean(d)) / se, J - 1),
                 p_worse = pt((-rope - mean(d)) / se, J - 1))
    })
    res <- do.call(rbind, res)
    res$pvalue_holm <- p.adjust(res$pvalue, "holm")
    res$correction <- correction
    res$alternative <- alternative
    rows[[length(rows) + 1]] <- res
  }
}
write_golden(do.call(rbind, rows), "cv_compare.csv")

# ---- Newcombe's paired-difference interval (method 10) -------------------------
newcombe <- function(n11, n10, n01, n00, alpha) {
  n <- n11 + n10 + n01 + n00
  p1 <- (n11 + n10) / n; p2 <- (n11 + n01) / n
  w1 <- suppressWarnings(prop.test(n11 + n10, n, conf.level = 1 - alpha, correct = FALSE))$conf.int
  w2 <- suppressWarnings(prop.test(n11 + n01, n, conf.level = 1 - alpha, correct = FALSE))$conf.int
  if (n11 + n10 == 0) w1[1] <- 0
  if (n11 + n10 == n) w1[2] <- 1
  if (n11 + n01 == 0) w2[1] <- 0
  if (n11 + n01 == n) w2[2] <- 1
  den <- as.numeric(n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
  A <- as.numeric(n11) * n00 - as.numeric(n10) * n01  # Newcombe's corrected phi
  A <- if (A > n / 2) A - n / 2 else if (A >= 0) 0 else A
  phi <- if (den > 0) A / sqrt(den) else 0
  c(p1 - p2,
    p1 - p2 - sqrt(max((p1 - w1[1])^2 - 2 * phi * (p1 - w1[1]) * (w2[2] - p2) + (w2[2] - p2)^2, 0)),
    p1 - p2 + sqrt(max((w1[2] - p1)^2 - 2 * phi * (w1[2] - p1) * (p2 - w2[1]) + (p2 - w2[1])^2, 0)))
}
tabs <- rbind(c(30, 10, 3, 7), c(1, 1, 7, 12), c(794, 150, 86, 570), c(5, 0, 0, 5), c(0, 3, 0, 0),
              c(10, 0, 4, 0), c(2, 5, 5, 2), c(0, 0, 0, 9), c(40, 1, 0, 1))
rows <- list()
for (i in seq_len(nrow(tabs))) for (alpha in c(0.05, 0.1)) {
  r <- newcombe(tabs[i, 1], tabs[i, 2], tabs[i, 3], tabs[i, 4], alpha)
  rows[[length(rows) + 1]] <- data.frame(n11 = tabs[i, 1], n10 = tabs[i, 2], n01 = tabs[i, 3],
                                         n00 = tabs[i, 4], alpha = alpha, estimate = r[1], low = r[2],
                                         high = r[3])
}
write_golden(do.call(rbind, rows), "newcombe.csv")

# ---- per-class robust accuracy: prop.test(x, n, correct = FALSE) ---------------
set.seed(21)
y <- sample(0:4, 300, replace = TRUE)
correct <- runif(300) < c(0.8, 0.7, 0.75, 0.4, 0.6)[y + 1]
write_golden(data.frame(y = y, correct = correct * 1), "per_class_data.csv")
n <- as.vector(table(factor(y, levels = 0:4)))
x <- vapply(0:4, function(k) sum(correct[y == k]), 0)
pt <- prop.test(x, n, correct = FALSE)
wil <- t(vapply(1:5, function(i) prop.test(x[i], n[i], correct = FALSE)$conf.int, c(0, 0)))
write_golden(data.frame(class = 0:4, n = n, successes = x, low = wil[, 1], high = wil[, 2],
                        statistic = unname(pt$statistic), df = unname(pt$parameter),
                        pvalue = pt$p.value), "per_class.csv")

# ---- Working-Hotelling simultaneous band of the robustness curve -----------------
# Same data and model as curve.csv (make_golden.R); multiplier sqrt(qchisq(1 - alpha, 6)).
d <- utils::read.csv(file.path(out_dir, "curve_data.csv"), stringsAsFactors = FALSE)
ctrl <- glm.control(epsilon = 1e-12, maxit = 100)
fit <- glm(correct ~ defense * eps, family = binomial(), data = d, control = ctrl)
fit <- glm(correct ~ defense * eps, family = binomial(), data = d, control = ctrl, start = coef(fit))
v <- sandwich::vcovCL(fit, cluster = d$example_id, type = "HC1", cadjust = TRUE)
grid <- c(0, 0.05, 0.1, 0.2, 0.3)
nd <- expand.grid(eps = grid, defense = c("madry", "none", "trades"), stringsAsFactors = FALSE)
x <- model.matrix(~ defense * eps, nd)
eta <- drop(x %*% coef(fit))
se <- sqrt(rowSums((x %*% v) * x))
wh <- sqrt(qchisq(0.95, length(coef(fit))))
write_golden(data.frame(defense = nd$defense, eps = nd$eps, fitted = plogis(eta),
                        low = plogis(eta - wh * se), high = plogis(eta + wh * se), critical_value = wh),
             "curve_simultaneous.csv")

# ---- exact power of the exact McNemar test, by brute force with binom.test -------
brute_power <- function(n, d, psi, alpha) {
  q <- (psi + d) / (2 * psi)
  total <- 0
  for (m in 1:n) {
    pm <- dbinom(m, n, psi)
    if (pm == 0) next
    rej <- vapply(0:m, function(b) binom.test(b, m, 0.5)$p.value <= alpha, TRUE)
    total <- total + pm * sum(dbinom(0:m, m, q)[rej])
  }
  total
}
rows <- list()
for (n in c(10, 25, 60, 120)) for (cfg in list(c(0.1, 0.2), c(0.05, 0.15), c(0.3, 0.3), c(-0.2, 0.5))) {
  for (alpha in c(0.05, 0.1)) {
    rows[[length(rows) + 1]] <- data.frame(n = n, difference = cfg[1], discordance = cfg[2], alpha = alpha,
                                           power = brute_power(n, cfg[1], cfg[2], alpha))
  }
}
write_golden(do.call(rbind, rows), "mcnemar_power.csv")
sizes <- list()
# the last two: one defense dominates (|difference| = discordance), where Connor's
# approximation is far above the exact answer
for (cfg in list(c(0.2, 0.4, 0.8), c(0.15, 0.3, 0.9), c(0.25, 0.35, 0.8), c(0.3, 0.3, 0.95),
                 c(0.4, 0.4, 0.99))) {
  n <- 1
  while (brute_power(n, cfg[1], cfg[2], 0.05) < cfg[3]) n <- n + 1
  sizes[[length(sizes) + 1]] <- data.frame(difference = cfg[1], discordance = cfg[2], power = cfg[3], n = n)
}
write_golden(do.call(rbind, sizes), "mcnemar_sample_size.csv")

cat("golden files written to", out_dir, "\n")
