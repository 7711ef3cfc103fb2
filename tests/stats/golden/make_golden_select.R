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

cat("golden files written to", out_dir, "\n")
