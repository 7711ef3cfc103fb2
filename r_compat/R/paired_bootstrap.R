# R twin of robustsk.stats.paired_bootstrap.

#' Paired bootstrap of the difference in robust accuracy
#'
#' Resamples examples (pairs) with replacement and reports the percentile
#' interval (quantile type 7) of mean(a) - mean(b) over the resamples.
#'
#' @param correct_a,correct_b logical (or 0/1) vectors, paired by position.
#' @param n_resamples number of resamples (ignored when indices is given).
#' @param seed optional integer for set.seed (the RNG state is restored after).
#' @param alpha error rate of the interval.
#' @param indices optional integer matrix of shape n_resamples x n with
#'   1-based example indices: row r is resample r. Give Python's indices + 1
#'   to reproduce its results exactly.
#' @return a list of class robustsk_bootstrap: estimate, low, high,
#'   standard_error, accuracy_a, accuracy_b, n, n_resamples, alpha, method,
#'   distribution (the resampled differences).
#' @export
paired_bootstrap <- function(correct_a, correct_b, n_resamples = 9999L, seed = NULL,
                             alpha = 0.05, indices = NULL) {
  v <- .check_paired(list(correct_a = correct_a, correct_b = correct_b))
  .check_alpha(alpha)
  n <- length(v$correct_a)
  if (is.null(indices)) {
    if (!is.numeric(n_resamples) || length(n_resamples) != 1 || is.na(n_resamples) ||
        n_resamples < 1 || n_resamples != round(n_resamples)) {
      stop(sprintf("n_resamples must be a positive whole number; got %s.", .describe(n_resamples)),
           call. = FALSE)
    }
    if (!is.null(seed)) {
      old <- if (exists(".Random.seed", envir = globalenv())) get(".Random.seed", envir = globalenv())
      on.exit(if (is.null(old)) rm(".Random.seed", envir = globalenv())
              else assign(".Random.seed", old, envir = globalenv()))
      set.seed(seed)
    }
    indices <- matrix(sample.int(n, n * n_resamples, replace = TRUE), nrow = n_resamples)
  } else {
    indices <- as.matrix(indices)
    if (ncol(indices) != n || any(is.na(indices)) || any(indices < 1 | indices > n) ||
        any(indices != round(indices))) {
      stop(sprintf("indices must be an integer matrix with %d columns (one per example) and values in 1..%d; got %s.",
                   n, n, .describe(indices)), call. = FALSE)
    }
  }
  d <- as.numeric(v$correct_a) - as.numeric(v$correct_b)
  diffs <- rowMeans(matrix(d[indices], nrow = nrow(indices)))
  q <- stats::quantile(diffs, c(alpha / 2, 1 - alpha / 2), type = 7, names = FALSE)
  .result(list(estimate = mean(d), low = q[1], high = q[2],
               standard_error = if (length(diffs) > 1) stats::sd(diffs) else NaN,
               accuracy_a = mean(v$correct_a), accuracy_b = mean(v$correct_b),
               n = n, n_resamples = nrow(indices), alpha = alpha,
               method = "paired bootstrap, percentile interval",
               distribution = diffs),
          "robustsk_bootstrap")
}
