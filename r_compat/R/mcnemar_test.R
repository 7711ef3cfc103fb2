# R twin of robustsk.stats.mcnemar.

#' McNemar's test for two defenses evaluated on the same examples
#'
#' b counts examples that only defense a gets right, c those that only b gets
#' right. exact = TRUE: binom.test(b, b + c, 0.5) (statistic = b); with no
#' discordant pair (b + c = 0), where binom.test stops, the p-value is 1.
#' exact = FALSE: mcnemar.test on the 2x2 table, whose continuity correction
#' is skipped when b == c and whose statistic and p-value are NaN when b + c = 0.
#'
#' @param correct_a,correct_b logical (or 0/1) vectors, paired by position.
#' @param exact use the exact binomial test on the discordant pairs (TRUE or
#'   FALSE; anything else, such as 1, "yes" or NA, is an error).
#' @param correction continuity correction (only for exact = FALSE); TRUE or FALSE.
#' @return a list of class robustsk_mcnemar: statistic, pvalue, b, c, n, df,
#'   difference (accuracy a minus accuracy b), exact, correction, method.
#' @export
mcnemar_test <- function(correct_a, correct_b, exact = TRUE, correction = TRUE) {
  .check_flag(exact, "exact")
  .check_flag(correction, "correction")
  v <- .check_paired(list(correct_a = correct_a, correct_b = correct_b))
  .mcnemar_core(v$correct_a, v$correct_b, exact, correction)
}

.mcnemar_core <- function(a, b_, exact, correction) {
  b <- sum(a & !b_)
  c <- sum(!a & b_)
  n <- length(a)
  if (exact) {
    if (b + c == 0) {
      statistic <- 0
      pvalue <- 1
    } else {
      statistic <- b
      pvalue <- stats::binom.test(b, b + c, p = 0.5)$p.value
    }
    df <- NA_real_
    method <- "exact McNemar test (binomial test on the discordant pairs)"
  } else {
    tab <- matrix(c(sum(a & b_), c, b, sum(!a & !b_)), nrow = 2)
    mt <- suppressWarnings(stats::mcnemar.test(tab, correct = correction))
    statistic <- unname(mt$statistic)
    pvalue <- unname(mt$p.value)
    df <- 1
    method <- if (correction && b != c) {
      "McNemar's chi-squared test with continuity correction"
    } else {
      "McNemar's chi-squared test"
    }
  }
  .result(list(statistic = as.numeric(statistic), pvalue = as.numeric(pvalue),
               b = as.integer(b), c = as.integer(c), n = as.integer(n), df = df,
               difference = (b - c) / n, exact = exact, correction = correction,
               method = method),
          "robustsk_mcnemar")
}
