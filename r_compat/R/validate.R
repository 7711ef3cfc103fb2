# Input checks shared by the R twins of robustsk.stats.
# Every error names what was received, what was expected and what to do.

.describe <- function(x) {
  shown <- if (is.factor(x)) as.character(x) else x  # a factor's values, not its codes
  txt <- paste(utils::capture.output(utils::str(shown, give.head = FALSE, vec.len = 3)), collapse = " ")
  if (nchar(txt) > 60) txt <- paste0(substr(txt, 1, 57), "...")
  sprintf("%s (class %s)", trimws(txt), paste(class(x), collapse = "/"))
}

# A per-example vector of outcomes: logical, or numeric 0/1. Returns logical.
.check_correct <- function(x, name = "correct") {
  if (is.data.frame(x) || is.list(x) || !is.null(dim(x)) && length(dim(x)) > 1) {
    stop(sprintf("%s must be a vector of per-example booleans; got %s. Pass one column.",
                 name, .describe(x)), call. = FALSE)
  }
  if (length(x) == 0) {
    stop(sprintf("%s is empty; expected at least one example's outcome.", name), call. = FALSE)
  }
  if (is.logical(x)) {
    if (anyNA(x)) {
      stop(sprintf("%s has NA at position %d; expected TRUE/FALSE for every example.",
                   name, which(is.na(x))[1]), call. = FALSE)
    }
    return(as.vector(x))
  }
  if (is.numeric(x)) {
    bad <- which(is.na(x) | !(x %in% c(0, 1)))
    if (length(bad)) {
      stop(sprintf("%s must hold only TRUE/FALSE or 0/1; element %d is %s. Use (pred == truth).",
                   name, bad[1], format(x[bad[1]])), call. = FALSE)
    }
    return(as.vector(x == 1))
  }
  stop(sprintf("%s must be logical or 0/1 numeric; got %s.", name, .describe(x)), call. = FALSE)
}

.check_paired <- function(vectors) {
  nms <- names(vectors)
  out <- Map(.check_correct, vectors, nms)
  lens <- vapply(out, length, integer(1))
  if (length(unique(lens)) > 1) {
    stop(sprintf("paired outcome vectors must have the same length (one entry per example); got %s.",
                 paste(sprintf("%s: %d", nms, lens), collapse = ", ")), call. = FALSE)
  }
  out
}

.check_alpha <- function(alpha) {
  if (!is.numeric(alpha) || length(alpha) != 1 || is.na(alpha) || alpha <= 0 || alpha >= 1) {
    stop(sprintf("alpha must be one number strictly between 0 and 1 (e.g. 0.05); got %s.",
                 .describe(alpha)), call. = FALSE)
  }
  invisible(alpha)
}

.check_choice <- function(value, choices, name) {
  if (!is.character(value) || length(value) != 1 || is.na(value) || !(value %in% choices)) {
    # as Python's check_choice: suggest the closest valid choice
    hint <- ""
    if (is.character(value) && length(value) == 1 && !is.na(value)) {
      d <- utils::adist(tolower(value), choices, ignore.case = TRUE)[1, ]
      if (min(d) <= max(1, nchar(choices[which.min(d)]) %/% 2)) {
        hint <- sprintf(" Did you mean '%s'?", choices[which.min(d)])
      }
    }
    stop(sprintf("%s must be one of %s; got %s.%s", name,
                 paste(sprintf("'%s'", choices), collapse = ", "), .describe(value), hint), call. = FALSE)
  }
  value
}

# A TRUE/FALSE switch: one non-NA logical, as Python's twins require a bool
# (isTRUE() would quietly turn 1, "yes" or NA into FALSE).
.check_flag <- function(value, name) {
  if (!is.logical(value) || length(value) != 1 || is.na(value)) {
    stop(sprintf("%s must be TRUE or FALSE; got %s. Pass %s = TRUE or %s = FALSE.",
                 name, .describe(value), name, name), call. = FALSE)
  }
  value
}

# Names of defenses or candidates: one per column, no repeats.
.check_unique_names <- function(names, k, what = "defense") {
  if (length(names) != k) {
    stop(sprintf("names has %d entries for %d %ss; give one name per %s.",
                 length(names), k, what, what), call. = FALSE)
  }
  dup <- unique(names[duplicated(names)])
  if (length(dup)) {
    stop(sprintf("names must be unique (one per %s); got %s, with %s repeated. Rename the repeated %s(s), e.g. make.unique(names).",
                 what, paste(sprintf("'%s'", names), collapse = ", "),
                 paste(sprintf("'%s'", dup), collapse = ", "), what), call. = FALSE)
  }
  names
}

# Sort values as Python's sorted() does: strings by code point (C-locale
# order, independent of LC_COLLATE), numbers numerically. Factors are sorted
# by their labels, as pandas sees them.
.sort_py <- function(x) {
  if (is.factor(x)) x <- as.character(x)
  sort(x, method = "radix")
}

# NULL or a positive whole number of examples in one fold (n_train, n_test).
.check_fold_size <- function(value, name) {
  if (is.null(value)) return(NULL)
  if (!is.numeric(value) || length(value) != 1 || !is.finite(value) || value < 1 || value != round(value)) {
    stop(sprintf("%s must be a positive integer (a number of examples in one fold, length(train) or length(test) of one split); got %s.",
                 name, .describe(value)), call. = FALSE)
  }
  value
}

.result <- function(x, type) structure(x, class = c(type, "robustsk_result"))

#' @export
print.robustsk_result <- function(x, ...) {
  cat(sprintf("<%s>\n", class(x)[1]))
  for (nm in names(x)) {
    v <- x[[nm]]
    if (is.data.frame(v) || is.matrix(v)) {
      cat(nm, ":\n", sep = "")
      print(utils::head(v, 10))
    } else if (length(v) <= 6) {
      cat(sprintf("%s: %s\n", nm, paste(format(v), collapse = ", ")))
    } else {
      cat(sprintf("%s: <%d values>\n", nm, length(v)))
    }
  }
  invisible(x)
}
