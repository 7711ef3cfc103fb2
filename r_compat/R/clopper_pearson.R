# R twin of robustsk.stats.clopper_pearson_bound.

#' One-sided exact (Clopper-Pearson) confidence bound of a binomial proportion
#'
#' @param successes integer vector of successes.
#' @param n integer vector of trials (>= 1), recycled against successes.
#' @param alpha error rate; the bound holds with probability at least 1 - alpha.
#' @param side "lower" (binom.test alternative "greater") or "upper" ("less").
#' @return a list of class robustsk_cp_bound: bound, successes, n, alpha, side.
#' @export
clopper_pearson_bound <- function(successes, n, alpha = 0.05, side = "lower") {
  .check_alpha(alpha)
  side <- .check_choice(side, c("lower", "upper"), "side")
  if (!is.numeric(successes) || !is.numeric(n) || anyNA(successes) || anyNA(n) ||
      any(successes != round(successes)) || any(n != round(n))) {
    stop("successes and n must be whole numbers (counts).", call. = FALSE)
  }
  len <- if (length(successes) && length(n)) max(length(successes), length(n)) else 0L
  x <- rep_len(successes, len)
  n <- rep_len(n, len)
  bad <- n < 1 | x < 0 | x > n
  if (any(bad)) {
    i <- which(bad)[1]
    stop(sprintf("expected 0 <= successes <= n and n >= 1 for every pair; got successes = %s, n = %s (pair %d).",
                 format(x[i]), format(n[i]), i), call. = FALSE)
  }
  alternative <- if (side == "lower") "greater" else "less"
  at <- if (side == "lower") 1L else 2L
  bound <- vapply(seq_len(len), function(i) {
    stats::binom.test(x[i], n[i], alternative = alternative, conf.level = 1 - alpha)$conf.int[at]
  }, numeric(1))
  # counts above R's integer range (2^31 - 1) stay doubles, exact up to 2^53
  whole <- function(v) if (all(abs(v) <= .Machine$integer.max)) as.integer(v) else v
  .result(list(bound = bound, successes = whole(x), n = whole(n), alpha = alpha,
               side = side), "robustsk_cp_bound")
}
