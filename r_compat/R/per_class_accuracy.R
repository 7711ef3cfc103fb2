# R twin of robustsk.stats.per_class_accuracy.

#' Robust accuracy per class with intervals, and a test of equality across classes
#'
#' Pearson's chi-squared test of homogeneity of the classes x (correct, wrong)
#' table, without continuity correction: prop.test(x, n, correct = FALSE).
#'
#' @param correct logical (or 0/1) vector, correct under attack per example.
#' @param y class label of each example.
#' @param method interval method: "wilson", "clopper-pearson" or
#'   "agresti-coull" (see accuracy_interval).
#' @param alpha error rate.
#' @return a list of class robustsk_per_class: table (class, n, successes,
#'   accuracy, low, high), statistic, df, pvalue, method, alpha.
#' @export
per_class_accuracy <- function(correct, y, method = "wilson", alpha = 0.05) {
  correct <- .check_correct(correct)
  if (length(y) != length(correct)) {
    stop(sprintf("correct and y must be paired; got lengths %d and %d.", length(correct), length(y)),
         call. = FALSE)
  }
  if (anyNA(y)) {
    stop(sprintf(paste("y must not hold missing labels; got %d missing value(s) of %d, the first",
                       "at position %d. Expected one class label per example: drop the",
                       "unlabelled examples from both y and correct first."),
                 sum(is.na(y)), length(y), which(is.na(y))[1]), call. = FALSE)
  }
  .check_alpha(alpha)
  method <- .check_choice(method, c("wilson", "clopper-pearson", "agresti-coull"), "method")
  # classes in Python's order: numbers numerically, strings by code point (not LC_COLLATE)
  labels <- as.character(.sort_py(unique(y)))
  if (length(labels) < 2) stop("a test of equality across classes needs two or more classes.", call. = FALSE)
  y <- as.character(y)
  n <- vapply(labels, function(l) sum(y == l), 0)
  x <- vapply(labels, function(l) sum(correct[y == l]), 0)
  ci <- lapply(seq_along(labels), function(i) .interval_from_counts(x[i], n[i], method, alpha))
  if (sum(x) == 0 || sum(x) == sum(n)) {
    statistic <- NaN
    pvalue <- NaN
  } else {
    pt <- suppressWarnings(stats::prop.test(x, n, correct = FALSE))
    statistic <- unname(pt$statistic)
    pvalue <- pt$p.value
  }
  table <- data.frame(class = labels, n = as.integer(n), successes = as.integer(x), accuracy = x / n,
                      low = vapply(ci, `[[`, 0, "low"), high = vapply(ci, `[[`, 0, "high"),
                      stringsAsFactors = FALSE, row.names = NULL)
  .result(list(table = table, statistic = statistic, df = length(labels) - 1, pvalue = pvalue,
               method = method, alpha = alpha), "robustsk_per_class")
}
