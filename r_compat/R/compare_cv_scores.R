# R twin of robustsk.stats.compare_cv_results.

#' Pairwise comparison of cross-validated candidates (corrected resampled t-test)
#'
#' The candidates were scored on the same J splits, whose training sets
#' overlap; the Nadeau-Bengio corrected variance of the mean difference is
#' (1/J + n_test/n_train) * s^2, with t on J - 1 degrees of freedom. p-values
#' of all pairs are adjusted with p.adjust. The posterior of the mean
#' difference is St(J - 1, mean, corrected se) (Benavoli et al. 2017), from
#' which P(better than rope), P(within rope) and P(worse) are computed.
#'
#' @param scores matrix or data.frame of scores, one row per split, one
#'   column per candidate (the same splits for every candidate).
#' @param names optional candidate names, one per column and unique
#'   (default: the column names, else candidate_0, candidate_1, ...).
#' @param n_train,n_test sizes of one training and one test fold, positive
#'   integers (needed with correction = "nadeau-bengio").
#' @param rope half-width of the region of practical equivalence.
#' @param alpha level of the tests and error rate of the intervals.
#' @param p_adjust method of p.adjust over all pairs.
#' @param alternative "two-sided", "greater" (a, ranked higher, scores more) or "less".
#' @param correction "nadeau-bengio" or "none" (naive paired t-test).
#' @return a list of class robustsk_cv_comparison: summary (candidate, mean,
#'   std) and pairwise (candidate_a, candidate_b, mean_a, mean_b, difference,
#'   std_error, statistic, df, pvalue, pvalue_adjusted, reject, low, high,
#'   p_better, p_rope, p_worse), candidates ranked by mean score.
#' @export
compare_cv_scores <- function(scores, names = NULL, n_train = NULL, n_test = NULL, rope = 0.01,
                              alpha = 0.05, p_adjust = "holm", alternative = "two-sided",
                              correction = "nadeau-bengio") {
  scores <- as.matrix(scores)
  if (!is.numeric(scores)) stop("scores must be a numeric matrix (splits x candidates).", call. = FALSE)
  if (is.null(names)) names <- colnames(scores)
  if (is.null(names)) names <- paste0("candidate_", seq_len(ncol(scores)) - 1)
  names <- .check_unique_names(as.character(names), ncol(scores), "candidate")
  n_train <- .check_fold_size(n_train, "n_train")
  n_test <- .check_fold_size(n_test, "n_test")
  if (ncol(scores) < 2) {
    stop(sprintf("scores holds a single candidate; comparing needs two or more columns. %s",
                 "Pass one column of split scores per candidate."), call. = FALSE)
  }
  if (nrow(scores) < 2) stop("the t-test needs at least two splits (rows of scores).", call. = FALSE)
  if (anyNA(scores)) stop("scores has missing values (failed fits?); drop those candidates.", call. = FALSE)
  .check_alpha(alpha)
  p_adjust <- .check_choice(p_adjust, c("holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none"),
                            "p_adjust")
  alternative <- .check_choice(alternative, c("two-sided", "greater", "less"), "alternative")
  correction <- .check_choice(correction, c("nadeau-bengio", "none"), "correction")
  if (!is.numeric(rope) || length(rope) != 1 || is.na(rope) || rope < 0) {
    stop(sprintf("rope must be one non-negative number; got %s.", .describe(rope)), call. = FALSE)
  }
  if (correction == "nadeau-bengio" && (is.null(n_train) || is.null(n_test))) {
    stop(paste("the Nadeau-Bengio correction needs n_train and n_test, the sizes of one training",
               "and one test fold; or use correction = 'none' (anti-conservative)."), call. = FALSE)
  }
  colnames(scores) <- names
  ord <- order(-colMeans(scores))
  scores <- scores[, ord, drop = FALSE]
  names <- colnames(scores)
  J <- nrow(scores)
  df <- J - 1
  factor <- 1 / J + if (correction == "nadeau-bengio") n_test / n_train else 0
  pairs <- utils::combn(ncol(scores), 2)
  rows <- lapply(seq_len(ncol(pairs)), function(p) {
    i <- pairs[1, p]
    j <- pairs[2, p]
    d <- scores[, i] - scores[, j]
    m <- mean(d)
    se <- sqrt(stats::var(d) * factor)
    if (se > 0) {
      t <- m / se
      pv <- switch(alternative,
                   "two-sided" = 2 * stats::pt(abs(t), df, lower.tail = FALSE),
                   greater = stats::pt(t, df, lower.tail = FALSE),
                   less = stats::pt(t, df))
      q <- stats::qt(1 - alpha / 2, df)
      low <- m - q * se
      high <- m + q * se
      p_worse <- stats::pt((-rope - m) / se, df)
      p_better <- stats::pt((rope - m) / se, df, lower.tail = FALSE)
      p_rope <- stats::pt((rope - m) / se, df) - p_worse
    } else {
      t <- if (m == 0) NaN else sign(m) * Inf
      pv <- if (m == 0) 1 else 0
      if ((alternative == "greater" && m < 0) || (alternative == "less" && m > 0)) pv <- 1
      low <- high <- m
      p_worse <- as.numeric(m < -rope)
      p_better <- as.numeric(m > rope)
      p_rope <- 1 - p_worse - p_better
    }
    data.frame(candidate_a = names[i], candidate_b = names[j], mean_a = mean(scores[, i]),
               mean_b = mean(scores[, j]), difference = m, std_error = se, statistic = t, df = df,
               pvalue = min(pv, 1), low = low, high = high, p_better = p_better, p_rope = p_rope,
               p_worse = p_worse, stringsAsFactors = FALSE)
  })
  pw <- do.call(rbind, rows)
  pw$pvalue_adjusted <- stats::p.adjust(pw$pvalue, method = p_adjust)
  pw$reject <- !is.na(pw$pvalue_adjusted) & pw$pvalue_adjusted <= alpha
  pw <- pw[, c("candidate_a", "candidate_b", "mean_a", "mean_b", "difference", "std_error",
               "statistic", "df", "pvalue", "pvalue_adjusted", "reject", "low", "high",
               "p_better", "p_rope", "p_worse")]
  summary <- data.frame(candidate = names, mean = colMeans(scores), std = apply(scores, 2, stats::sd),
                        stringsAsFactors = FALSE, row.names = NULL)
  .result(list(summary = summary, pairwise = pw, n_splits = J, n_train = n_train, n_test = n_test,
               rope = rope, alpha = alpha, p_adjust = p_adjust, alternative = alternative,
               correction = correction),
          "robustsk_cv_comparison")
}
